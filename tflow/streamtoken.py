"""Stream tokens: one token opens one job's HLS playlists (and, through them, its
segments) until it expires, without an API key — players cannot send headers.

`<expires>.<signature>` where `expires` is a Unix time (seconds) and the signature is the
first 32 hex digits of HMAC-SHA256(secret, "<job_id>.<expires>"). The token sits in the
URL *path* (`/api/v1/stream/<job>/<token>/master.m3u8`), so the playlists' relative URIs
resolve under it (RFC 8216 §4.1, RFC 3986 §5.2). The same scheme as NGINX's
`secure_link` (an expiry plus a keyed hash over the protected prefix)."""

from __future__ import annotations

import hashlib
import hmac
import time


class TokenRefused(ValueError):
    """The token is malformed, forged, for another job, or expired; the message says which."""


def _signature(secret: str, job_id: str, expires: int) -> str:
    return hmac.new(secret.encode(), f"{job_id}.{expires}".encode(), hashlib.sha256).hexdigest()[:32]


def make(secret: str, job_id: str, lifetime: float, now: float | None = None) -> tuple[str, int]:
    """`(token, expires)` opening `job_id` for `lifetime` seconds from `now` (Unix seconds)."""
    expires = int((time.time() if now is None else now) + lifetime)
    return f"{expires}.{_signature(secret, job_id, expires)}", expires


def check(secret: str, job_id: str, token: str, now: float | None = None) -> int:
    """The token's expiry (Unix seconds) if it opens `job_id` now. Raises `TokenRefused`."""
    expires_text, _, signature = token.partition(".")
    if not expires_text.isdigit() or len(expires_text) > 12 or len(signature) != 32:
        raise TokenRefused("malformed stream token")
    expires = int(expires_text)
    if not hmac.compare_digest(signature, _signature(secret, job_id, expires)):
        raise TokenRefused("stream token does not open this job")
    if expires < (time.time() if now is None else now):
        raise TokenRefused("stream token expired")
    return expires
