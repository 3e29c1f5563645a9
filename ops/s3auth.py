"""Credentials of the embedded S3 store (SeaweedFS `weed mini`): one S3 identity (access
key + secret key) for the services, no anonymous access, and JWT signing of every filer
and volume request (`security.toml`), so neither the S3 port nor the filer or volume HTTP
ports take an unsigned read or write. Keys are generated once under
`<data_dir>/secrets/` (0600) unless `TFLOW_S3_ACCESS_KEY`/`TFLOW_S3_SECRET_KEY` are set.

Its gRPC ports (master, volume, filer, S3, admin) take only mutually authenticated TLS:
a private CA and one node certificate (clientAuth + serverAuth, 127.0.0.1), generated
once under `<data_dir>/secrets/seaweedfs-tls/`, named in `[grpc.*]` of `security.toml`.

Sources: SeaweedFS wiki "Amazon S3 API" (`-s3.config` identities; with any identity
configured, anonymous requests are denied) and "Security Configuration"
(`[jwt.signing]`, `[jwt.filer_signing]` and their `.read` variants, `[grpc]` `ca` and
`[grpc.<component>]` `cert`/`key` in `security.toml`, read from the working directory).
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from ops.secrets import private_file, secret_json, token
from runtime.settings import Settings

#: What the services' identity may do (SeaweedFS action names).
ACTIONS = ["Admin", "Read", "List", "Tagging", "Write"]


def keys(secrets_dir: Path, settings: Settings) -> tuple[str, str]:
    """`(access_key, secret_key)`: the settings' when both are set, else generated once
    into `secrets_dir/s3.json`."""
    access, secret = settings.s3.access_key.get_secret_value(), settings.s3.secret_key.get_secret_value()
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
    ca, cert, key = grpc_tls(secrets_dir / "seaweedfs-tls")
    lines = ["# written by tflow: JWT keys and gRPC mTLS of the embedded SeaweedFS (see data/secrets/)",
             "[jwt.signing]", f'key = "{jwt["signing"]}"', "expires_after_seconds = 10",
             "[jwt.signing.read]", f'key = "{jwt["signing_read"]}"', "expires_after_seconds = 10",
             "[jwt.filer_signing]", f'key = "{jwt["filer"]}"', "expires_after_seconds = 10",
             "[jwt.filer_signing.read]", f'key = "{jwt["filer_read"]}"', "expires_after_seconds = 10",
             "[grpc]", f'ca = "{ca}"']
    for component in GRPC_COMPONENTS:
        lines += [f"[grpc.{component}]", f'cert = "{cert}"', f'key = "{key}"']
    private_file(s3_dir / "security.toml", "\n".join(lines) + "\n")
    return identities


#: Every `[grpc.<component>]` of `weed mini` (the worker and the client dial the others).
GRPC_COMPONENTS = ("master", "volume", "filer", "s3", "admin", "worker", "client")


def grpc_tls(folder: Path) -> tuple[Path, Path, Path]:
    """`(ca.crt, node.crt, node.key)` under `folder`, generated once: an EC P-256 CA and a
    node certificate it signs for 127.0.0.1/localhost, valid for both ends of a gRPC
    connection (server and client auth), ten years. Keys are 0600."""
    from datetime import UTC, datetime, timedelta
    from ipaddress import IPv4Address

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca_crt, node_crt, node_key = folder / "ca.crt", folder / "node.crt", folder / "node.key"
    if ca_crt.exists() and node_crt.exists() and node_key.exists():
        return ca_crt, node_crt, node_key
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    now = datetime.now(UTC) - timedelta(minutes=5)
    until = now + timedelta(days=3650)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("tflow embedded store CA")).issuer_name(name(
        "tflow embedded store CA")).public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    node = (x509.CertificateBuilder().subject_name(name("tflow-store")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(until)
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    private_file(node_key, key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()).decode())
    private_file(node_crt, node.public_bytes(pem).decode())
    private_file(ca_crt, ca.public_bytes(pem).decode())  # the CA key is not kept: nothing else is ever signed
    return ca_crt, node_crt, node_key
