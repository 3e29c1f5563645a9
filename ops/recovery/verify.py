"""`tflow backup --verify`: prove a snapshot restores. Every blob it names is hashed
against its name; then the snapshot is restored into scratch embedded servers (a temp
data dir, loopback ports) and what came back is compared with what the backup recorded:
rows per table (the dump's own snapshot), each stream's messages and sequences and
consumers, every object's key, size and SHA-256 read back from the scratch store."""

from __future__ import annotations

import asyncio
import hashlib
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from minio import Minio

from ops.recovery import repository as repo_
from ops.recovery.restore import restore, restore_objects
from ops.recovery.tools import nats_env, run, tool
from runtime.settings import Settings
from runtime.storage import store


@dataclass(frozen=True)
class Check:
    """One comparison: what, the backup's figure, the restored one."""

    what: str
    expected: object
    found: object
    #: What a passed check reports (default `expected`).
    summary: object = None

    @property
    def ok(self) -> bool:
        return self.expected == self.found


def blob_checks(repo: Path, snap: repo_.Snapshot) -> list[Check]:
    """Each distinct blob `snap` names is present and hashes to its name (one check per
    blob that fails, and one summary check)."""
    bad: list[Check] = []
    names = {e["sha256"] for e in snap.objects().values()}
    for sha in sorted(names):
        path = repo_.blob_path(repo, sha)
        found = repo_.sha256_file(path) if path.is_file() else "missing"
        if found != sha:
            bad.append(Check(f"blob {sha[:12]}", sha, found))
    return bad + [Check("blobs intact", len(names), len(names) - len(bad))]


async def _table_counts(url: str, tables: list[str]) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        return {t: int(await conn.fetchval(f'SELECT count(*) FROM "{t}"')) for t in tables}
    finally:
        await conn.close()


def _stream_state(settings: Settings, name: str) -> dict[str, object]:
    info = json.loads(run(f"nats stream info {name}", [tool("nats", "TFLOW_NATS_CLI"), "stream", "info", name,
                                                       "--json"], nats_env(settings)))
    return comparable(info.get("state", {}))


def comparable(state: dict) -> dict[str, object]:
    """The figures of a stream's state a restore must reproduce: messages, bytes, first and
    last sequence, consumers (an empty stream's first sequence is the server's to pick)."""
    keys = ("messages", "bytes", "first_seq", "last_seq", "consumer_count") if state.get("messages") \
        else ("messages", "bytes", "last_seq", "consumer_count")
    return {k: state.get(k) for k in keys}


def restored_checks(settings: Settings, full: repo_.Snapshot) -> list[Check]:
    """Compare the database and streams of `settings`, just restored, with the snapshot's
    records (before the objects: their bucket notifications add to MINIO)."""
    tables: dict[str, int] = full.manifest.get("tables", {})
    counts = asyncio.run(_table_counts(settings.database.url or "", list(tables)))
    checks = [Check(f"rows of {t}", n, counts[t]) for t, n in tables.items()]
    return checks + [Check(f"stream {s}", comparable(state), _stream_state(settings, s))
                     for s, state in full.manifest.get("streams", {}).items()]


def object_checks(client: Minio, bucket: str, objects: repo_.Snapshot) -> list[Check]:
    """Compare the restored bucket with `objects`' index: keys and sizes, and every
    object's SHA-256 read back from the store."""
    index = objects.objects()
    found = {ref.key: ref.size for ref in store.list_objects(client, bucket, "")}
    wrong = []
    for key, entry in index.items():
        resp = client.get_object(bucket, key)
        try:
            h = hashlib.sha256()
            for chunk in resp.stream(repo_.CHUNK):
                h.update(chunk)
        finally:
            resp.close()
            resp.release_conn()
        if h.hexdigest() != entry["sha256"]:
            wrong.append(key)
    return [Check("object keys and sizes", {k: e["size"] for k, e in index.items()}, found, len(index)),
            Check("objects whose SHA-256 differs", [], wrong, 0)]


def _said(c: Check) -> dict[str, object]:
    """A failed check in full; a passed one with its summary."""
    if not c.ok:
        return {"what": c.what, "ok": False, "expected": c.expected, "found": c.found}
    return {"what": c.what, "ok": True, "found": c.summary if c.summary is not None else c.expected}


def verify(settings: Settings, repo: Path, snapshot_id: str | None = None) -> dict[str, object]:
    """Verify the snapshot (`repository.chosen`) by hashing its blobs and restoring it
    into scratch servers. Returns `{snapshot, objects_snapshot, ok, seconds, checks}`,
    `checks` as `{what, ok, expected, found}` for a failure, `{what, ok, found}` for a
    pass. Raises `BackupError` when a restore step fails."""
    from ops.stack import EmbeddedStack, loopback_settings
    from readmodel.db import migrate

    started = time.monotonic()
    full, objects = repo_.chosen(repo, snapshot_id)
    checks = blob_checks(repo, objects)
    with tempfile.TemporaryDirectory(prefix="tflow-verify-") as scratch:
        stack = EmbeddedStack(loopback_settings(Path(scratch) / "data", s3={"bucket": settings.s3.bucket}))
        try:
            resolved = stack.start()
            migrate(resolved.database.url or "")
            restore(resolved, repo, full.id, with_objects=False)
            checks += restored_checks(resolved, full)
            client = stack.root_client()
            restore_objects(client, resolved.s3.bucket, repo, objects)
            checks += object_checks(client, resolved.s3.bucket, objects)
        finally:
            stack.stop()
    return {"snapshot": full.id, "objects_snapshot": objects.id, "ok": all(c.ok for c in checks),
            "seconds": round(time.monotonic() - started, 2), "checks": [_said(c) for c in checks]}
