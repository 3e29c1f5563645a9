"""`tflow`: the command line.

  tflow up [--only S,S]        start the embedded stack and every service, or only some (Ctrl-C stops all)
  tflow run <service>          run one service in the foreground (`services.SERVICES`)
  tflow projector rebuild      drop the read model and replay the JOBS stream into it
  tflow bootstrap [--minio]    bucket, streams, consumers, migrations on external servers
  tflow nats-config --out F    the production nats-server config
  tflow migrate [--status|--down-to V]  apply, list or roll back database migrations
  tflow backup [DIR] [--list|--verify|--schedule] / restore [DIR]  snapshots (ops.recovery)
  tflow status | stop | restart S  the running tflow up, from another shell (ops.control)
  tflow smoke URL KEY            a 5 s clip through a deployment, end to end (ops.smoke)
  tflow keys create|list|revoke  API keys
  tflow replay JOB [--task T]    re-run a job, or some of its tasks, as a new epoch
  tflow dlq list|retry ID        dead letters: messages given up on, and re-driving one
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time

import nats.errors
from nats.aio.client import Client as NATS

from ops import control, smoke
from ops.recovery import cli as recovery_cli
from runtime.observability.logs import setup_logging
from runtime.settings import Settings, get_settings
from services import SERVICES

log = logging.getLogger("tflow")


def only_services(text: str | None) -> tuple[str, ...]:
    """The services of `--only a,b` (every one when None), in `SERVICES` order. Raises
    ValueError naming an unknown one."""
    if text is None:
        return SERVICES
    asked = {s.strip() for s in text.split(",") if s.strip()}
    unknown = sorted(asked - set(SERVICES))
    if unknown or not asked:
        raise ValueError(f"unknown service(s) {', '.join(unknown) or '(none given)'}; "
                         f"choose from {', '.join(SERVICES)}")
    return tuple(s for s in SERVICES if s in asked)


def cmd_up(args: argparse.Namespace) -> int:
    """Start servers (what settings leave unset), bootstrap, run services until Ctrl-C.
    With `--only`, just those services; when every server is external too (another host
    joining a running system), the bootstrap is left to the host that made it."""
    from ops.stack import DataDirBusy, running_stack, wait_for_http

    started = time.monotonic()
    settings = get_settings()
    try:
        services = () if args.maintenance else only_services(args.only)
    except ValueError as e:
        print(f"tflow up --only: {e}", file=sys.stderr)
        return 2
    joining = args.maintenance or (args.only is not None
                                   and all((settings.nats.url, settings.database.url, settings.s3.endpoint)))
    setup_logging("tflow", settings.logs.level, settings.logs.format)
    stopping = False

    def on_signal(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        with running_stack(settings, services, supervise=True,
                           bootstrap_first=not joining) as (resolved, sup, servers):
            record = control.Recorder(resolved.data_dir, sup, servers)
            if "api" not in services:
                print(f"\nTranscode Flow services up ({time.monotonic() - started:.1f}s): {', '.join(services)}\n"
                      f"  NATS       {resolved.nats.url}\n  metrics    {metrics_summary(resolved)}\n"
                      "Ctrl-C stops them.\n", flush=True)
                while not stopping:
                    record()
                    time.sleep(0.2)
                print("stopping...", flush=True)
                return 0
            wait_for_http(f"http://{resolved.api.host}:{resolved.api.port}/health", 60, lambda: not stopping)
            key_where = "TFLOW_ADMIN_KEY" if resolved.api.admin_key else str(resolved.data_dir / "admin.key")
            print(
                f"\nTranscode Flow is up ({time.monotonic() - started:.1f}s)\n"
                f"  API        http://{resolved.api.host}:{resolved.api.port}  (docs: /docs)\n"
                f"  web UI     http://{resolved.api.host}:{resolved.api.port}/ui/  (sign in with an API key)\n"
                f"  admin key  {key_where}\n"
                f"  drop videos into {resolved.inbox_dir.resolve()}\n"
                f"  S3         http://{resolved.s3.endpoint}/{resolved.s3.bucket}/raw/  (signed requests only)\n"
                f"  NATS       {resolved.nats.url}  (a user per service)\n"
                f"  metrics    {metrics_summary(resolved)}\n"
                f"  secrets    {resolved.data_dir / 'secrets'}/  (0600; see README, Security)\n"
                "Ctrl-C stops everything.\n",
                flush=True,
            )
            while not stopping:
                record()
                time.sleep(0.2)
            print("stopping...", flush=True)
    except DataDirBusy as e:
        print(f"tflow up: {e}", file=sys.stderr)
        return 1
    return 0


def metrics_summary(settings: Settings) -> str:
    """Where each service's /metrics is, from `<data_dir>/prometheus/targets.json`."""
    import json

    from ops.scrape import PROMETHEUS_TARGETS

    path = settings.data_dir / PROMETHEUS_TARGETS
    if not path.exists():
        return "off"
    groups = json.loads(path.read_text())
    return ", ".join(f"{g['labels']['service']} {g['targets'][0]}" for g in groups) + f"  ({path})"


def cmd_run(args: argparse.Namespace) -> int:
    """Run one service in the foreground."""
    from ops.services import DECLARED

    DECLARED[args.service].main()
    return 0


def cmd_rebuild(_: argparse.Namespace) -> int:
    """Drop the read model and replay JOBS up to its current end (the projector's command)."""
    from services.projector.main import rebuild_main

    return int(rebuild_main())


def cmd_keys(args: argparse.Namespace) -> int:
    """`tflow keys create NAME [--rate N] [--scope S ...]`, `list`, `revoke ID`."""
    import uuid

    from readmodel import keys
    from readmodel.db import create_pool

    settings = cli_settings()

    async def main() -> int:
        pool = await create_pool(settings.database.url or "")
        try:
            if args.action == "create":
                row, secret = await keys.create(pool, name=args.name, rate_limit_per_hour=args.rate,
                                                scopes=tuple(args.scope or keys.DEFAULT_SCOPES))
                print(f"id     {row['id']}\nname   {row['name']}\nscopes {' '.join(row['scopes'])}\n"
                      f"rate   {row['rate_limit_per_hour']}/hour\nkey    {secret}\n(shown once: store it now)")
            elif args.action == "list":
                for r in await keys.list_all(pool):
                    state = "active" if r["is_active"] else "revoked"
                    print(f"{r['id']}  {r['key_prefix']}…  {state:7}  {r['rate_limit_per_hour']:>6}/h  "
                          f"{','.join(r['scopes']):28}  {r['name']}")
            elif args.action == "revoke":
                if not await keys.revoke(pool, key_id=uuid.UUID(args.id)):
                    print(f"no API key {args.id}", file=sys.stderr)
                    return 1
                print(f"revoked {args.id}")
        finally:
            await pool.close()
        return 0

    return asyncio.run(main())


def cli_settings() -> Settings:
    """The settings of a command run from a shell: the environment, and for what it leaves
    unset, the endpoints of the embedded stack `tflow up` runs on this data dir."""
    from ops.endpoints import with_endpoints

    return with_endpoints(get_settings())


async def cli_nats(settings: Settings) -> NATS:
    from runtime.jetstream.connection import connect

    if not settings.nats.url:
        raise SystemExit("no NATS: start `tflow up` here, or set TFLOW_NATS_URL (and TFLOW_NATS_USER/_PASSWORD)")
    try:
        return await connect(settings, "tflow-cli", wait=False)
    except (OSError, nats.errors.Error) as e:
        raise SystemExit(f"cannot reach NATS at {settings.nats.url}: {e!r} (is `tflow up` running?)") from e


def cmd_replay(args: argparse.Namespace) -> int:
    """`tflow replay JOB [--task NAME ...] [--whisper-model M] [--language L]`."""
    from runtime.jetstream.connection import close
    from runtime.worker.facts import JetStreamFacts
    from runtime.worker.replay import ReplayRefused, request_replay

    options = {k: v for k, v in (("whisper_model", args.whisper_model),
                                 ("transcription_language", args.language)) if v is not None}

    async def main() -> int:
        nc = await cli_nats(cli_settings())
        try:
            fact = await request_replay(JetStreamFacts(nc.jetstream(), "cli"), args.job, args.task, options,
                                        reason=args.reason, by="cli")
        except ReplayRefused as e:
            print(f"tflow replay: {e}", file=sys.stderr)
            return 1
        finally:
            await close(nc)
        print(f"job {fact.job_id}: epoch {fact.epoch} replays {', '.join(fact.tasks)}")
        return 0

    return asyncio.run(main())


def cmd_dlq(args: argparse.Namespace) -> int:
    """`tflow dlq list [--limit N]`, `tflow dlq retry ID`."""
    from runtime.jetstream.connection import close
    from runtime.worker.deadletters import list_dead_letters, redrive
    from runtime.worker.facts import JetStreamFacts
    from runtime.worker.replay import ReplayRefused

    async def main() -> int:
        nc = await cli_nats(cli_settings())
        js = nc.jetstream()
        try:
            if args.action == "list":
                total, letters = await list_dead_letters(js, args.limit)
                print(f"{total} dead letters" + (f" (newest {len(letters)})" if len(letters) < total else ""))
                for d in letters:
                    a = d.advisory
                    print(f"{d.seq:>6}  {d.at.isoformat(timespec='seconds')}  {a.kind:14} {a.stream}/{a.consumer:12} "
                          f"#{a.stream_seq:<7} x{a.deliveries}  {d.subject or '(gone from ' + a.stream + ')'}")
                return 0
            try:
                print(await redrive(js, JetStreamFacts(js, "cli"), args.id, by="cli"))
            except (LookupError, ReplayRefused) as e:
                print(f"tflow dlq retry: {e}", file=sys.stderr)
                return 1
            return 0
        finally:
            await close(nc)

    return asyncio.run(main())


def cmd_bootstrap(args: argparse.Namespace) -> int:
    """Idempotent setup of servers that run elsewhere: bucket, JetStream streams and consumers,
    migrations, generated secrets; with `--minio`, MinIO's `raw/` event rule and the
    `processed/` read policy NGINX relies on. Services never create streams themselves
    (their NATS users may not), so a deployment runs this once before them; `tflow up`
    does it itself."""
    from ops.production import configure_minio
    from ops.stack import bootstrap
    from ops.tls import DEFAULT_HOSTNAMES, ensure_pair
    from runtime.guard import refuse_placeholders
    from runtime.storage import store

    settings = get_settings()
    refuse_placeholders(settings)
    asyncio.run(bootstrap(settings))
    if args.minio:
        configure_minio(store.make_client(settings), settings.s3.bucket)
    cert, _, generated = ensure_pair(settings.data_dir, args.tls_host or DEFAULT_HOSTNAMES)
    print(f"bootstrapped: bucket {settings.s3.bucket}, streams, consumers, migrations"
          + (", MinIO event rule and read policy" if args.minio else "")
          + (f"; generated a self-signed TLS pair in {cert.parent}" if generated else f"; TLS pair kept: {cert}"))
    return 0


def cmd_nats_config(args: argparse.Namespace) -> int:
    """Write the production nats-server config (users per role, JetStream fsync always)."""
    from pathlib import Path

    from ops.production import write_nats_config
    from runtime.guard import refuse_placeholders

    settings = get_settings()
    refuse_placeholders(settings)
    routes = [r.strip() for r in (args.routes or "").split(",") if r.strip()]
    out = write_nats_config(settings, Path(args.out), args.host, args.port, Path(args.store),
                            server_name=args.server_name, cluster_port=args.cluster_port, routes=routes)
    print(f"wrote {out}")
    return 0


def cmd_cleanup(args: argparse.Namespace) -> int:
    """`tflow cleanup [--dry-run]` (ops.cleanup)."""
    from ops.cleanup import cmd_cleanup as cleanup

    return cleanup(args)


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply pending migrations (`--status` lists them, `--down-to V` rolls back the newer ones)."""
    from ops.endpoints import with_endpoints
    from readmodel.db import migrate, migration_status, rollback_to

    url = with_endpoints(get_settings()).database.url or ""
    if args.status:
        for version, applied in migration_status(url):
            print(f"{'applied' if applied else 'pending'}  {version}")
    elif args.down_to is not None:
        try:
            print("\n".join(f"rolled back {v}" for v in rollback_to(url, args.down_to)) or "nothing to roll back")
        except ValueError as e:
            print(f"tflow migrate: {e}", file=sys.stderr)
            return 2
    else:
        migrate(url)
    return 0


def cmd_definitions(args: argparse.Namespace) -> int:
    """Rewrite the JetStream consumer files from the services' declarations (`ops.services`)."""
    from ops.services import write_consumer_files

    for name in write_consumer_files():
        print(name)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse `argv` and run the command; returns the exit status."""
    p = argparse.ArgumentParser(prog="tflow", description="Transcode Flow")
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the embedded stack and all services")
    up.add_argument("--only", metavar="SERVICES", help="comma-separated services to run (e.g. transcoder,transcriber): "
                    "with external servers, another host adding workers")
    up.add_argument("--maintenance", action="store_true", help="the servers only (NATS, Postgres, MinIO), no "
                    "service and no bootstrap: for migrations and repairs (the upgrade-and-rollback runbook)")
    up.set_defaults(fn=cmd_up)
    run = sub.add_parser("run", help="run one service")
    run.add_argument("service", choices=SERVICES)
    run.set_defaults(fn=cmd_run)
    proj = sub.add_parser("projector", help="projector maintenance")
    proj_sub = proj.add_subparsers(dest="action", required=True)
    proj_sub.add_parser("rebuild", help="drop the read model and replay the JOBS stream").set_defaults(fn=cmd_rebuild)
    mg = sub.add_parser("migrate", help="apply database migrations; --status, --down-to VERSION")
    mg.add_argument("--status", action="store_true", help="list the migrations, applied or pending")
    mg.add_argument("--down-to", metavar="VERSION", help="roll back every migration newer than VERSION (0: all)")
    mg.set_defaults(fn=cmd_migrate)
    sub.add_parser("definitions", help="rewrite contracts/nats/consumers/ from the service declarations"
                   ).set_defaults(fn=cmd_definitions)
    b = sub.add_parser("bootstrap", help="create bucket, streams, consumers, tables (idempotent)")
    b.add_argument("--minio", action="store_true", help="also MinIO's raw/ event rule and processed/ read policy")
    b.add_argument("--tls-host", action="append", help="a host name or address of NGINX's self-signed certificate, "
                   "generated when <data_dir>/secrets/tls holds no pair (repeatable; default localhost, 127.0.0.1)")
    b.set_defaults(fn=cmd_bootstrap)
    nc = sub.add_parser("nats-config", help="write the production nats-server config (compose's nats-config step)")
    nc.add_argument("--out", required=True, help="config file to write (0600)")
    nc.add_argument("--host", default="0.0.0.0", help="listen address inside the NATS container")
    nc.add_argument("--port", type=int, default=4222)
    nc.add_argument("--store", default="/data/nats/jetstream", help="JetStream store directory")
    nc.add_argument("--server-name", default="tflow", help="this node's name (unique in a cluster)")
    nc.add_argument("--cluster-port", type=int, help="a cluster node: the port its routes listen on")
    nc.add_argument("--routes", help="a cluster node: every node's nats-route://host:port, comma-separated")
    nc.set_defaults(fn=cmd_nats_config)
    k = sub.add_parser("keys", help="API keys (stored hashed; a secret is shown once)")
    k_sub = k.add_subparsers(dest="action", required=True)
    kc = k_sub.add_parser("create", help="create a key")
    kc.add_argument("name")
    kc.add_argument("--rate", type=int, default=100, help="requests per hour (default 100)")
    kc.add_argument("--scope", action="append", choices=["jobs:read", "jobs:write", "admin"])  # readmodel.keys.SCOPES
    k_sub.add_parser("list", help="list keys")
    kr = k_sub.add_parser("revoke", help="revoke a key")
    kr.add_argument("id")
    k.set_defaults(fn=cmd_keys)
    rp = sub.add_parser("replay", help="re-run a job, or some of its tasks, through the consumers (a new epoch)")
    rp.add_argument("job", help="job id")
    rp.add_argument("--task", action="append", help="a task to re-run (repeatable; default: the whole job); the "
                    "MP4/HLS it derives from or feeds and metadata come along")
    rp.add_argument("--whisper-model", help="Whisper model for the transcription from now on (tiny, base, ...)")
    rp.add_argument("--language", help="transcription language from now on (ISO 639-1, e.g. en)")
    rp.add_argument("--reason", default="replay", help="recorded in the job's history")
    rp.set_defaults(fn=cmd_replay)
    recovery_cli.add_parsers(sub)
    control.add_parsers(sub)
    smoke.add_parser(sub)
    c = sub.add_parser("cleanup", help="remove what retention says is due (PRD §6.2): old temp files, failed jobs, "
                       "logs; API-uploaded originals when TFLOW_API_SOURCE_RETENTION_DAYS is set")
    c.add_argument("--dry-run", action="store_true", help="list what would be removed; remove nothing")
    c.set_defaults(fn=cmd_cleanup)
    d = sub.add_parser("dlq", help="dead letters (messages given up on)")
    d_sub = d.add_subparsers(dest="action", required=True)
    dl = d_sub.add_parser("list", help="the newest dead letters")
    dl.add_argument("--limit", type=int, default=50)
    dr = d_sub.add_parser("retry", help="re-drive one through the consumers")
    dr.add_argument("id", type=int, help="the dead letter's id (DLQ sequence, first column of `list`)")
    d.set_defaults(fn=cmd_dlq)
    args = p.parse_args(argv)
    status: int = args.fn(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
