"""The TLS pair NGINX serves HTTPS with (PRD §8.3 "API HTTPS only (production)"; issue 28):
`<data_dir>/secrets/tls/tls.crt` and `tls.key`. An operator's or an ACME client's pair
placed there is used as it is; when there is none, `tflow bootstrap` generates a
self-signed one (ECDSA P-256, SHA-256, `subjectAltName` for every host name and
address it serves, RFC 5280) so the edge never answers plain HTTP but to redirect."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ops.secrets import private_file

#: Host names of a generated certificate when none are given.
DEFAULT_HOSTNAMES = ("localhost", "127.0.0.1", "::1")
#: Validity of a generated certificate (browsers accept at most 398 days for public CAs;
#: a self-signed one is trusted explicitly, so the operator's renewal is the limit).
VALID_DAYS = 397


def tls_dir(data_dir: Path) -> Path:
    """Where the pair lives: `<data_dir>/secrets/tls/`."""
    return data_dir / "secrets" / "tls"


def self_signed(hostnames: tuple[str, ...] | list[str], now: datetime | None = None) -> tuple[bytes, bytes]:
    """A new self-signed certificate and its private key, PEM: `(certificate, key)`,
    valid for `hostnames` (DNS names and IP addresses) from `now` for `VALID_DAYS`. It
    is its own CA (`basicConstraints CA:TRUE`), so a client can trust exactly it."""
    if not hostnames:
        raise ValueError("a certificate needs at least one host name")
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hostnames:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    start = (now or datetime.now(UTC)) - timedelta(minutes=5)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0]),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Transcode Flow (self-signed)")])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + timedelta(days=VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), pem_key


def ensure_pair(data_dir: Path, hostnames: tuple[str, ...] | list[str] = DEFAULT_HOSTNAMES) -> tuple[Path, Path, bool]:
    """`(certificate, key, generated)`: the pair in `tls_dir(data_dir)`, generated
    self-signed for `hostnames` when either file is missing (the key 0600, the folder
    0700); an existing pair is never touched."""
    folder = tls_dir(data_dir)
    cert, key = folder / "tls.crt", folder / "tls.key"
    if cert.exists() and key.exists():
        return cert, key, False
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    pem_cert, pem_key = self_signed(hostnames)
    private_file(key, pem_key.decode())
    cert.write_bytes(pem_cert)
    cert.chmod(0o644)
    return cert, key, True


def spki_sha256(cert_pem: bytes) -> str:
    """The base64 SHA-256 of a certificate's SubjectPublicKeyInfo: what Chromium's
    `--ignore-certificate-errors-spki-list` and HPKP-style pins name."""
    import base64
    import hashlib

    cert = x509.load_pem_x509_certificate(cert_pem)
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()
