"""Credentials of the embedded S3 store (MinIO, `ops.minio`): the services' user and the
root user, each generated once under `<data_dir>/secrets/` (0600).

The services' user (`s3.json`) is what every service and client of the embedded stack
holds; `TFLOW_S3_ACCESS_KEY`/`TFLOW_S3_SECRET_KEY` replace it when both are set. The root
user (`minio-root.json`) is MinIO's own administrator: only provisioning (`ops.minio.provision`)
and operators use it. MinIO wants an access key of 3 or more characters and a secret key of
8 or more (MinIO docs, MINIO_ROOT_USER / MINIO_ROOT_PASSWORD).
"""

from __future__ import annotations

import secrets
from pathlib import Path

from ops.secrets import secret_json, token
from runtime.settings import Settings


def _generated(path: Path, prefix: str) -> tuple[str, str]:
    made = secret_json(path, {"access_key": prefix + secrets.token_hex(9).upper(), "secret_key": token(30)})
    return made["access_key"], made["secret_key"]


def keys(secrets_dir: Path, settings: Settings) -> tuple[str, str]:
    """`(access_key, secret_key)` of the services: the settings' when both are set, else
    generated once into `secrets_dir/s3.json`."""
    access, secret = settings.s3.access_key.get_secret_value(), settings.s3.secret_key.get_secret_value()
    if access and secret:
        return access, secret
    return _generated(secrets_dir / "s3.json", "TF")


def root_credentials(secrets_dir: Path) -> tuple[str, str]:
    """`(user, password)` of MinIO's root user, generated once into `secrets_dir/minio-root.json`."""
    return _generated(secrets_dir / "minio-root.json", "TFROOT")
