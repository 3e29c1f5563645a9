"""Taking a snapshot into a backup repository (layout: `ops.recovery`): the database in
an exported snapshot with its row counts, then the streams with their consumers, the
embedded stack's secrets, and the objects incrementally (only new or changed ones are
read from the store). Then retention (`repository.prune`)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from minio import Minio
from minio.error import S3Error

from contracts import ObjectRef
from ops.recovery import repository as repo_
from ops.recovery.tools import BackupError, nats_env, pg_url, run, tool
from runtime.settings import Settings
from runtime.storage import store

log = logging.getLogger(__name__)

#: The JetStream streams that hold state (contracts/nats/streams/).
STREAMS = ("JOBS", "MINIO", "DLQ")
#: Object headers kept with each object.
KEPT_HEADERS = ("content-type", "cache-control")
#: The embedded stack's secrets that outside parties hold a copy of (admin key, webhook
#: signatures, stream tokens), relative to the data dir; the servers' own passwords are
#: made anew by a fresh stack. Compose keeps them in `.env`.
SECRET_FILES = ("admin.key", "webhook.key", "secrets/stream.key")


async def _dump_postgres(url: str, dest: Path) -> dict[str, int]:
    """`pg_dump -Fc` into `dest` inside an exported repeatable-read snapshot, and the row
    count of every table in that same snapshot."""
    conn = await asyncpg.connect(url)
    try:
        tx = conn.transaction(isolation="repeatable_read", readonly=True)
        await tx.start()
        snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
        tables = [r[0] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                                                 "ORDER BY tablename")]
        counts = {t: int(await conn.fetchval(f'SELECT count(*) FROM "{t}"')) for t in tables}
        await asyncio.to_thread(run, "pg_dump", [tool("pg_dump", "TFLOW_PG_DUMP"), "--format=custom", "--no-owner",
                                                 f"--snapshot={snapshot}", f"--file={dest}", url])
        await tx.rollback()
    finally:
        await conn.close()
    return counts


def backup_streams(settings: Settings, dest: Path) -> dict[str, dict]:
    """`nats stream backup` of each of `STREAMS` (consumers included) under `dest/<name>/`;
    each stream's state as the backup recorded it (messages, bytes, first_seq, last_seq)."""
    nats = tool("nats", "TFLOW_NATS_CLI")
    states = {}
    for stream in STREAMS:
        run(f"nats stream backup {stream}", [nats, "stream", "backup", "--no-progress", "--consumers", stream,
                                             str(dest / stream)], nats_env(settings))
        state = json.loads((dest / stream / "backup.json").read_text()).get("state", {})
        states[stream] = {k: state.get(k) for k in ("messages", "bytes", "first_seq", "last_seq", "consumer_count")}
    return states


def copy_secrets(data_dir: Path, dest: Path) -> list[str]:
    """Copy the `SECRET_FILES` that exist under `data_dir` into `dest` (0600); their names."""
    found = []
    for name in SECRET_FILES:
        src = data_dir / name
        if src.is_file():
            target = dest / name
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            shutil.copyfile(src, target)
            target.chmod(0o600)
            found.append(name)
    return found


def _entry(client: Minio, bucket: str, ref: ObjectRef, sha256: str) -> dict:
    st = client.stat_object(bucket, ref.key)
    headers = {k.lower(): v for k, v in (st.metadata or {}).items()}
    return {"sha256": sha256, "size": ref.size, "etag": ref.etag,
            "headers": {k: v for k, v in headers.items() if k in KEPT_HEADERS},
            "metadata": {k[len("x-amz-meta-"):]: v for k, v in headers.items() if k.startswith("x-amz-meta-")}}


def backup_objects(client: Minio, bucket: str, repo: Path, dest: Path, previous: dict[str, dict]) -> dict[str, int]:
    """Write `dest/objects.json` for every object of `bucket`, copying into the blobs only
    the objects that are new or changed since `previous` (`repository.plan_objects`); an
    object removed while it is copied is left out. Returns the counts: objects, bytes,
    copied, copied_bytes, reused."""
    listing = list(store.list_objects(client, bucket, ""))
    index, copy = repo_.plan_objects(previous, listing)
    incoming = repo / repo_.BLOBS / ".incoming"
    incoming.mkdir(mode=0o700, parents=True, exist_ok=True)
    copied, copied_bytes = 0, 0
    for n, ref in enumerate(copy):
        part = incoming / f"{dest.name}-{n}"
        try:
            client.fget_object(bucket, ref.key, str(part))
            sha = repo_.sha256_file(part)
            index[ref.key] = _entry(client, bucket, ref, sha)
        except S3Error as e:
            if e.code != "NoSuchKey":
                raise
            log.info("backup: %s was removed while it was copied; left out", ref.key)
            part.unlink(missing_ok=True)
            continue
        blob = repo_.blob_path(repo, sha)
        if blob.exists():
            part.unlink()
        else:
            blob.parent.mkdir(mode=0o700, exist_ok=True)
            os.replace(part, blob)
        copied, copied_bytes = copied + 1, copied_bytes + ref.size
    (dest / repo_.OBJECTS).write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
    return {"objects": len(index), "bytes": sum(e["size"] for e in index.values()), "copied": copied,
            "copied_bytes": copied_bytes, "reused": len(index) - copied}


def take(settings: Settings, repo: Path, parts: tuple[str, ...] = repo_.PARTS,
         client: Minio | None = None) -> dict[str, object]:
    """Take one snapshot of `parts` into `repo` (made 0700), then apply retention
    (`TFLOW_BACKUP_KEEP`). Returns its manifest, with `pruned`. Raises `BackupError`
    (nothing of the snapshot stays) or the store's error."""
    unknown = set(parts) - set(repo_.PARTS)
    if unknown or not parts:
        raise BackupError(f"unknown backup part(s) {sorted(unknown)}; choose from {', '.join(repo_.PARTS)}")
    with repo_.locked(repo):
        started = datetime.now(UTC)
        sid = repo_.new_id(repo, started)
        work = repo / repo_.SNAPSHOTS / f"{repo_.PARTIAL}{sid}"
        work.mkdir(mode=0o700, parents=True)
        manifest: dict[str, object] = {"format": 2, "id": sid, "started_at": started.isoformat(),
                                       "bucket": settings.s3.bucket, "parts": [p for p in repo_.PARTS if p in parts]}
        try:
            if "postgres" in parts:  # before the streams: the checkpoint is never ahead of the facts
                manifest["tables"] = asyncio.run(_dump_postgres(pg_url(settings), work / "postgres.dump"))
            if "streams" in parts:
                manifest["streams"] = backup_streams(settings, work / "jetstream")
            if "secrets" in parts:
                manifest["secrets"] = copy_secrets(settings.data_dir, work / "secrets")
            if "objects" in parts:
                newest = [s for s in repo_.snapshots(repo) if "objects" in s.parts]
                manifest["objects"] = backup_objects(client or store.make_client(settings), settings.s3.bucket, repo,
                                                     work, newest[-1].objects() if newest else {})
            manifest["finished_at"] = datetime.now(UTC).isoformat()
            (work / repo_.MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
            work.rename(repo / repo_.SNAPSHOTS / sid)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        manifest["pruned"] = repo_.prune(repo, settings.backup.keep)
    return manifest
