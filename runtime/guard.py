"""The start check of every process in production: no missing, short or placeholder secret.

`TFLOW_ENVIRONMENT=production` makes every service, `tflow bootstrap` and
`tflow nats-config` refuse to start while a secret is missing, shorter than
`MIN_SECRET_CHARS`, or still a placeholder of `.env.example`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

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
        "TFLOW_S3_SECRET_KEY": settings.s3.secret_key.get_secret_value(),
        "TFLOW_ADMIN_KEY": settings.admin_key_value(),
        "TFLOW_STREAM_SECRET": settings.stream_secret_value(),
        "TFLOW_WEBHOOK_SECRET": settings.webhook_secret_value(),
        "TFLOW_DATABASE_URL (password)": urlsplit(settings.database.url or "").password,
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
