"""The production deployment's own steps (compose.yaml, README Production): the NATS
server config, and MinIO's bucket rule and read policy. (Refusing placeholder secrets is
every process's own start check: `runtime.guard`.)
"""

from __future__ import annotations

import json
from pathlib import Path

from minio import Minio

from contracts import layout
from ops import natsauth
from ops.secrets import private_file
from runtime.settings import Settings


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
