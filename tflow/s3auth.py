"""Credentials of the embedded S3 store (SeaweedFS `weed mini`): one S3 identity (access
key + secret key) for the services, no anonymous access, and JWT signing of every filer
and volume request (`security.toml`), so neither the S3 port nor the filer or volume HTTP
ports take an unsigned read or write. Keys are generated once under
`<data_dir>/secrets/` (0600) unless `TFLOW_S3_ACCESS_KEY`/`TFLOW_S3_SECRET_KEY` are set.

Sources: SeaweedFS wiki "Amazon S3 API" (`-s3.config` identities; with any identity
configured, anonymous requests are denied) and "Security Configuration"
(`[jwt.signing]`, `[jwt.filer_signing]` and their `.read` variants in `security.toml`,
read from the working directory).
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from tflow.secrets import private_file, secret_json, token
from tflow.settings import Settings

#: What the services' identity may do (SeaweedFS action names).
ACTIONS = ["Admin", "Read", "List", "Tagging", "Write"]


def keys(secrets_dir: Path, settings: Settings) -> tuple[str, str]:
    """`(access_key, secret_key)`: the settings' when both are set, else generated once
    into `secrets_dir/s3.json`."""
    access, secret = settings.s3_access_key.get_secret_value(), settings.s3_secret_key.get_secret_value()
    if access and secret:
        return access, secret
    made = secret_json(secrets_dir / "s3.json",
                       {"access_key": "TF" + secrets.token_hex(9).upper(), "secret_key": token(30)})
    return made["access_key"], made["secret_key"]


def write_config(s3_dir: Path, secrets_dir: Path, access_key: str, secret_key: str) -> Path:
    """Write the identities file (`secrets_dir/seaweedfs-s3.json`) and `s3_dir/security.toml`
    (JWT keys, generated once into `secrets_dir/seaweedfs.json`), all 0600. Returns the
    identities file's path (for `-s3.config`)."""
    identities = secrets_dir / "seaweedfs-s3.json"
    private_file(identities, json.dumps({"identities": [{
        "name": "tflow", "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ACTIONS}]}, indent=2))
    jwt = secret_json(secrets_dir / "seaweedfs.json", {k: token(32) for k in
                                                        ("signing", "signing_read", "filer", "filer_read")})
    private_file(s3_dir / "security.toml", "\n".join([
        "# written by tflow: JWT keys of the embedded SeaweedFS (do not edit; see data/secrets/)",
        "[jwt.signing]", f'key = "{jwt["signing"]}"', "expires_after_seconds = 10",
        "[jwt.signing.read]", f'key = "{jwt["signing_read"]}"', "expires_after_seconds = 10",
        "[jwt.filer_signing]", f'key = "{jwt["filer"]}"', "expires_after_seconds = 10",
        "[jwt.filer_signing.read]", f'key = "{jwt["filer_read"]}"', "expires_after_seconds = 10", ""]))
    return identities
