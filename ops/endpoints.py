"""`<data_dir>/secrets/endpoints.json` (0600): the running embedded stack's endpoints and
admin credentials, written by `tflow up`, read by a command run from another shell
(`tflow replay`, `tflow dlq`, `tflow keys`, `tflow backup`, ...)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import SecretStr

from ops.secrets import private_file
from runtime.settings import Settings

ENDPOINTS = "secrets/endpoints.json"
#: The entries of `ENDPOINTS` and the settings (concern, field) each one fills.
ENDPOINT_FIELDS = {"nats_url": ("nats", "url"), "nats_user": ("nats", "user"), "nats_password": ("nats", "password"),
                   "database_url": ("database", "url"), "s3_endpoint": ("s3", "endpoint"),
                   "s3_access_key": ("s3", "access_key"), "s3_secret_key": ("s3", "secret_key")}


def write_endpoints(settings: Settings) -> None:
    """Record the running stack's endpoints and admin credentials in
    `<data_dir>/secrets/endpoints.json` (0600): what a command run from another shell
    (`tflow replay`, `tflow dlq`, `tflow keys`, ...) connects with (`with_endpoints`)."""
    doc = {"nats_url": settings.nats.url, "nats_user": settings.nats.user,
           "nats_password": settings.nats.password.get_secret_value() if settings.nats.password else None,
           "database_url": settings.database.url, "s3_endpoint": settings.s3.endpoint,
           "s3_access_key": settings.s3.access_key.get_secret_value(),
           "s3_secret_key": settings.s3.secret_key.get_secret_value()}
    private_file(settings.data_dir / ENDPOINTS, json.dumps(doc, indent=2) + "\n")


def with_endpoints(settings: Settings) -> Settings:
    """`settings` with the endpoints the environment leaves unset taken from the embedded
    stack's `<data_dir>/secrets/endpoints.json` (written by `tflow up`), if there is one."""
    path = settings.data_dir / ENDPOINTS
    if settings.nats.url or not path.exists():
        return settings
    doc = json.loads(path.read_text())
    updates: dict[str, dict[str, Any]] = {}
    for name, value in doc.items():
        if value is None or (name == "database_url" and settings.database.url):
            continue
        concern, field = ENDPOINT_FIELDS[name]
        updates.setdefault(concern, {})[field] = SecretStr(value) if name.endswith(("password", "key")) else value
    return settings.updated(**updates)
