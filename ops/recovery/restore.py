"""Restoring a snapshot (`repository.chosen`): into running servers that do not hold the
streams yet (compose: the servers up, the services stopped), or onto an empty embedded
data dir, starting the embedded servers for the while (`restore_embedded`): streams with
their consumers, then the database (the projector's checkpoint with it), the secrets,
then the objects with their headers, originals first (their bucket notifications find
them; ingest knows them already, so they add no job)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from minio import Minio

from ops.recovery import repository as repo_
from ops.recovery.tools import BackupError, nats_env, pg_url, run, tool
from runtime.settings import Settings
from runtime.storage import store

#: What in a data dir says it holds a stack already (servers' state).
STATE_DIRS = ("nats", "pg", "minio")


def restore_objects(client: Minio, bucket: str, repo: Path, snap: repo_.Snapshot) -> int:
    """Upload every object of `snap`'s index from the blobs, with its headers and user
    metadata (originals under `raw/` first). Returns the count. Raises `BackupError` for a
    missing blob."""
    index = snap.objects()
    store.ensure_bucket(client, bucket)
    for key in sorted(index, key=lambda k: (not k.startswith("raw/"), k)):
        entry = index[key]
        blob = repo_.blob_path(repo, entry["sha256"])
        if not blob.is_file():
            raise BackupError(f"the copy of {key} ({entry['sha256'][:12]}…) is missing from {repo}")
        headers, metadata = entry["headers"], {**entry["metadata"]}
        if "cache-control" in headers:
            metadata["Cache-Control"] = headers["cache-control"]
        client.fput_object(bucket, key, str(blob), metadata=metadata or None,
                           content_type=headers.get("content-type") or store.content_type_for(key))
    return len(index)


def restore_secrets(snap: repo_.Snapshot, data_dir: Path) -> list[str]:
    """Put `snap`'s secrets back under `data_dir` (0600); their names."""
    names = []
    for name in snap.manifest.get("secrets", []):
        target = data_dir / name
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        shutil.copyfile(snap.path / "secrets" / name, target)
        target.chmod(0o600)
        names.append(name)
    return names


def restore(settings: Settings, repo: Path, snapshot_id: str | None = None,
            client: Minio | None = None, with_objects: bool = True) -> dict[str, object]:
    """Restore the snapshot into the servers of `settings`, which hold no JOBS, MINIO or
    DLQ stream yet, with the services stopped (`with_objects=False`: all but the
    objects). Returns what was restored: snapshot ids, streams, tables, secrets, objects.
    Raises `BackupError`."""
    full, objects = repo_.chosen(repo, snapshot_id)
    nats = tool("nats", "TFLOW_NATS_CLI")
    streams = list(full.manifest.get("streams", {}))
    for stream in streams:
        run(f"nats stream restore {stream}", [nats, "stream", "restore", "--no-progress",
                                              str(full.path / "jetstream" / stream)], nats_env(settings))
    run("pg_restore", [tool("pg_restore", "TFLOW_PG_RESTORE"), "--clean", "--if-exists", "--no-owner",
                       "--single-transaction", f"--dbname={pg_url(settings)}", str(full.path / "postgres.dump")])
    secrets = restore_secrets(full, settings.data_dir)
    count = restore_objects(client or store.make_client(settings), settings.s3.bucket, repo, objects) \
        if with_objects else 0
    return {"snapshot": full.id, "objects_snapshot": objects.id, "streams": streams,
            "tables": len(full.manifest.get("tables", {})), "secrets": secrets, "objects": count}


def restore_embedded(settings: Settings, repo: Path, snapshot_id: str | None = None) -> dict[str, object]:
    """`tflow restore` on a machine that lost `./data`: start the embedded servers on the
    empty data dir, create the database, restore, stop them; `make run` then starts
    everything from the restored state. Returns `restore`'s answer with `seconds`.
    Raises `BackupError` when the data dir already holds a stack."""
    from ops.stack import EmbeddedStack
    from readmodel.db import migrate

    data = settings.data_dir
    held = [d for d in STATE_DIRS if (data / d).exists()]
    if held:
        raise BackupError(f"{data} already holds a stack ({', '.join(held)}/): a restore goes onto an empty data "
                          "dir; move this one away first (the disaster-recovery runbook)")
    repo_.chosen(repo, snapshot_id)  # fail before starting anything
    started = time.monotonic()
    stack = EmbeddedStack(settings)
    try:
        resolved = stack.start()
        migrate(resolved.database.url or "")  # makes the database; the dump then replaces every table
        done = restore(resolved, repo, snapshot_id, stack.root_client())
    finally:
        stack.stop()
    return {**done, "seconds": round(time.monotonic() - started, 2)}
