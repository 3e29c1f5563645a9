"""The production deployment's own steps (compose.yaml, README Production): refusing
placeholder secrets, the NATS server config, and MinIO's bucket rule and read policy.

`TFLOW_ENVIRONMENT=production` makes every service, `tflow bootstrap` and
`tflow nats-config` refuse to start while a secret is missing, shorter than
`MIN_SECRET_CHARS`, or still a placeholder of `.env.example`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from minio import Minio

from contracts import layout
from ops import natsauth
from ops.secrets import private_file
from runtime.settings import Settings

MIN_SECRET_CHARS = 16
#: What `.env.example` puts where a secret goes, and other values nobody should deploy.
PLACEHOLDER = re.compile(r"change[-_ ]?me|placeholder|example|^(password|secret|minioadmin|admin)$", re.IGNORECASE)
#: Secrets of the other containers, read from the same environment (compose passes .env).
OTHER_SECRETS = ("POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD", "GF_SECURITY_ADMIN_PASSWORD")


class PlaceholderSecrets(SystemExit):
    """Production was asked for, and some secrets are missing, short or placeholders."""


def weak_secrets(settings: Settings, environ: Mapping[str, str] = os.environ) -> list[str]:
    """Names of the secrets that are missing, shorter than `MIN_SECRET_CHARS` or match
    `PLACEHOLDER` (the values are never returned)."""
    values: dict[str, str | None] = {
        "TFLOW_S3_SECRET_KEY": settings.s3_secret_key.get_secret_value(),
        "TFLOW_ADMIN_KEY": settings.admin_key_value(),
        "TFLOW_STREAM_SECRET": settings.stream_secret_value(),
        "TFLOW_WEBHOOK_SECRET": settings.webhook_secret_value(),
        "TFLOW_DATABASE_URL (password)": urlsplit(settings.database_url or "").password,
    }
    values.update({name: environ.get(name) for name in OTHER_SECRETS if name in environ})
    return sorted(name for name, v in values.items()
                  if not v or len(v) < MIN_SECRET_CHARS or PLACEHOLDER.search(v))


def refuse_placeholders(settings: Settings, environ: Mapping[str, str] = os.environ) -> None:
    """In production (`settings.environment`), raise `PlaceholderSecrets` naming every
    weak secret; elsewhere do nothing."""
    if settings.environment != "production":
        return
    weak = weak_secrets(settings, environ)
    if weak:
        raise PlaceholderSecrets(f"refusing to start in production: {', '.join(weak)} missing, shorter than "
                                 f"{MIN_SECRET_CHARS} characters, or still a placeholder (see .env.example)")


def write_nats_config(settings: Settings, out: Path, host: str, port: int, store_dir: Path,
                      server_name: str = "tflow", cluster_port: int | None = None,
                      routes: list[str] | None = None) -> Path:
    """The production nats-server config at `out` (0600): one user per role with bcrypt
    hashes (`ops.natsauth`), JetStream under `store_dir` with `sync_interval: always`
    (every write on disk before its ack), monitoring on port 8222 for the healthcheck.
    The passwords are generated once into `<data_dir>/secrets/nats.json` (0600), where
    the services read theirs (`TFLOW_NATS_USER` = the service's name); MinIO's goes to
    `<data_dir>/secrets/minio.env`, the env file MinIO reads (`MINIO_CONFIG_ENV_FILE`).
    A cluster node (Kubernetes' StatefulSet) gives its `server_name`, `cluster_port` and
    the `routes` of every node (`natsauth.server_config`)."""
    secrets_dir = settings.data_dir / "secrets"
    secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    doc = json.loads(natsauth.server_config(host=host, port=port, store_dir=store_dir, secrets_dir=secrets_dir,
                                            sync_interval="always", server_name=server_name,
                                            cluster_port=cluster_port, routes=routes))
    doc["http_port"] = 8222
    out.parent.mkdir(parents=True, exist_ok=True)
    private_file(out, json.dumps(doc, indent=2) + "\n")
    minio_password = natsauth.credentials(secrets_dir)["minio"]
    private_file(secrets_dir / "minio.env", "# MinIO's NATS user (MINIO_CONFIG_ENV_FILE), by tflow nats-config\n"
                 f"MINIO_NOTIFY_NATS_USERNAME_PRIMARY=minio\nMINIO_NOTIFY_NATS_PASSWORD_PRIMARY={minio_password}\n")
    return out


def public_read_policy(bucket: str) -> str:
    """The bucket policy letting anyone GET objects under `processed/` (what NGINX reads
    anonymously; the store itself stays on the internal network) and nothing else: no
    listing, no `raw/` originals, no writes."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "nginx-reads-outputs", "Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": ["s3:GetObject"],
        "Resource": [f"arn:aws:s3:::{bucket}/{layout.PROCESSED_PREFIX}*"]}]})


def configure_minio(client: Minio, bucket: str) -> None:
    """MinIO's side of production: the `raw/` event rule to the NATS target and the
    output read policy (idempotent)."""
    from runtime.storage import store

    store.configure_notifications(client, bucket)
    client.set_bucket_policy(bucket, public_read_policy(bucket))
