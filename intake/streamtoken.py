"""Stream tokens: one token opens one job's HLS playlists, segments and other outputs
until it expires, without an API key (players cannot send headers).

A token is `<expires>.<signature>`: `expires` is a Unix time (seconds) and the signature
is NGINX's `secure_link` hash, the unpadded base64url of
MD5("<expires> <job_id> <secret>") (nginx.org/en/docs/http/ngx_http_secure_link_module.html,
`secure_link_md5 "$expires $job $secret"`). So the API (`/api/v1/stream/...`) and NGINX
(`/videos/processed/<job>/<token>/...`, `deploy/nginx/`) accept the same tokens. The
token sits in the URL *path*, so a playlist's relative URIs resolve under it (RFC 8216
§4.1, RFC 3986 §5.2) and every segment request carries it.

MD5 is what `secure_link` offers; with the secret inside the hashed string and the
expiry covered, a forged or stretched token needs a preimage of MD5, which is not known.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time

#: The signature: 16 MD5 bytes in unpadded base64url.
_TOKEN = re.compile(r"([0-9]{1,12})\.([A-Za-z0-9_-]{22})")


class TokenRefused(ValueError):
    """The token is malformed, forged, for another job, or expired; the message says which."""


def signature(secret: str, job_id: str, expires: int) -> str:
    """`secure_link_md5 "$expires $job $secret"` as NGINX computes it: 22 base64url chars."""
    digest = hashlib.md5(f"{expires} {job_id} {secret}".encode(), usedforsecurity=True).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def make(secret: str, job_id: str, lifetime: float, now: float | None = None) -> tuple[str, int]:
    """`(token, expires)` opening `job_id` for `lifetime` seconds from `now` (Unix seconds)."""
    expires = int((time.time() if now is None else now) + lifetime)
    return f"{expires}.{signature(secret, job_id, expires)}", expires


def check(secret: str, job_id: str, token: str, now: float | None = None) -> int:
    """The token's expiry (Unix seconds) if it opens `job_id` now. Raises `TokenRefused`."""
    match = _TOKEN.fullmatch(token)
    if match is None:
        raise TokenRefused("malformed stream token")
    expires = int(match.group(1))
    if not hmac.compare_digest(match.group(2), signature(secret, job_id, expires)):
        raise TokenRefused("stream token does not open this job")
    if expires < (time.time() if now is None else now):
        raise TokenRefused("stream token expired")
    return expires
