"""`tflow backup` and `tflow restore` (README, Backup and restore; the runbooks).

    tflow backup [DIR] [--parts postgres,streams,secrets,objects]   take a snapshot
    tflow backup [DIR] --list                                      the snapshots
    tflow backup [DIR] --verify [--snapshot ID]                    restore into scratch servers, compare
    tflow backup [DIR] --schedule                                  run the PRD §9.3 schedule until stopped
    tflow restore [DIR] [--snapshot ID]                            onto an empty data dir (servers started
                                                                   for the while), or into the servers the
                                                                   environment names (compose)

DIR defaults to `TFLOW_BACKUP_DIR`, else `<data_dir>/backups`. A backup of the embedded
stack of `make run` uses the endpoints in `data/secrets/endpoints.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path

from ops.recovery import repository as repo_
from ops.recovery.tools import BackupError
from runtime.settings import Settings, get_settings


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register `backup` and `restore` on the `tflow` parser's subcommands."""
    b = sub.add_parser("backup", help="snapshot Postgres, the streams, the secrets and the objects (incrementally) "
                       "into a backup repository; --list, --verify, --schedule")
    b.add_argument("dir", nargs="?", type=Path, help="the repository (default TFLOW_BACKUP_DIR or data/backups)")
    b.add_argument("--parts", default=",".join(repo_.PARTS),
                   help=f"what to take, comma-separated (default all: {','.join(repo_.PARTS)})")
    mode = b.add_mutually_exclusive_group()
    mode.add_argument("--list", action="store_true", help="list the snapshots")
    mode.add_argument("--verify", action="store_true", help="restore a snapshot into scratch servers and compare "
                      "rows, stream states and every object's hash")
    mode.add_argument("--schedule", action="store_true", help="take the scheduled snapshots until stopped")
    b.add_argument("--snapshot", help="with --verify: the snapshot id (default the newest full one)")
    b.set_defaults(fn=cmd_backup)
    r = sub.add_parser("restore", help="restore a snapshot onto an empty data dir (or into the servers the "
                       "environment names), then `make run`")
    r.add_argument("dir", nargs="?", type=Path, help="the repository (default TFLOW_BACKUP_DIR or data/backups)")
    r.add_argument("--snapshot", help="the snapshot id (default the newest full one)")
    r.set_defaults(fn=cmd_restore)


def _settings() -> Settings:
    from ops.endpoints import with_endpoints

    return with_endpoints(get_settings())


def _list(repo: Path) -> int:
    for s in repo_.snapshots(repo):
        objects = s.manifest.get("objects", {})
        print(f"{s.id}  {'full   ' if s.full else 'objects'}  {objects.get('objects', 0)} objects "
              f"({objects.get('copied', 0)} copied, {objects.get('copied_bytes', 0)} bytes)  "
              f"{sum(s.manifest.get('tables', {}).values())} rows")
    return 0


def _schedule(settings: Settings, repo: Path) -> int:
    from ops.recovery.schedule import keep_backing_up
    from runtime.observability.logs import setup_logging
    from runtime.observability.metrics import serve_metrics

    setup_logging("backup", settings.logs.level, settings.logs.format)
    serve_metrics(settings.metrics.port, settings.metrics.host)

    async def main() -> None:
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        await keep_backing_up(settings, repo, stop)

    asyncio.run(main())
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    """`tflow backup`; exit 1 on a failed step or a failed verification."""
    from ops.recovery.backup import take
    from ops.recovery.verify import verify

    settings = _settings()
    repo = repo_.repository(settings, args.dir)
    try:
        if args.list:
            return _list(repo)
        if args.schedule:
            return _schedule(settings, repo)
        if args.verify:
            report = verify(settings, repo, args.snapshot)
            print(json.dumps(report, indent=2))
            return 0 if report["ok"] else 1
        manifest = take(settings, repo, tuple(p.strip() for p in args.parts.split(",") if p.strip()))
    except BackupError as e:
        print(f"tflow backup: {e}", file=sys.stderr)
        return 1
    objects: dict = manifest.get("objects") or {}  # type: ignore[assignment]
    print(f"snapshot {manifest['id']} in {repo}: {', '.join(manifest['parts'])}"  # type: ignore[arg-type]
          + (f"; {objects['objects']} objects, {objects['copied']} copied ({objects['copied_bytes']} bytes), "
             f"{objects['reused']} unchanged" if objects else ""))
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """`tflow restore`: into the servers the environment names when it names all three
    (compose), else onto the empty embedded data dir. Exit 1 on a failed step."""
    from ops.recovery.restore import restore, restore_embedded

    settings = get_settings()
    repo = repo_.repository(settings, args.dir)
    external = all((settings.nats.url, settings.database.url, settings.s3.endpoint))
    try:
        done = restore(settings, repo, args.snapshot) if external else restore_embedded(settings, repo, args.snapshot)
    except BackupError as e:
        print(f"tflow restore: {e}", file=sys.stderr)
        return 1
    print(f"restored snapshot {done['snapshot']} (objects of {done['objects_snapshot']}): {done['objects']} objects, "
          f"{done['tables']} tables, streams {', '.join(done['streams'])}"  # type: ignore[arg-type]
          + (f" in {done['seconds']} s" if "seconds" in done else "")
          + ("; now start the stack (make run)" if not external else ""))
    return 0
