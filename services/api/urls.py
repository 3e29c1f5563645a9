"""URLs of a job's outputs in API documents.

- With `TFLOW_PUBLIC_BASE_URL` (NGINX in front of the bucket, `deploy/nginx/`): every
  output under NGINX, its path carrying a stream token that NGINX checks (`secure_link`),
  or plain public URLs when `TFLOW_STREAM_TOKENS=false` (a public catalogue).
- Without: nothing in the store is public: files get presigned, expiring GET URLs, and
  playlists get stream-token URLs on this API (`routes/stream.py`), whose media
  playlists list presigned segment URLs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from minio import Minio

from contracts import layout
from intake import streamtoken
from runtime.settings import Settings
from runtime.storage import store


def stream_path(job_id: str, token: str, relative: str) -> str:
    """`/api/v1/stream/<job>/<token>/<relative>`: a playlist (or file) of the job under a token."""
    return f"/api/v1/stream/{job_id}/{token}/{relative}"


def stream_url(settings: Settings, job_id: str, key: str, api_base: str) -> tuple[str, str, int]:
    """`(url, token, expires)`: the URL a player opens for playlist `key` of `job_id`
    (public under `TFLOW_PUBLIC_BASE_URL`, else `stream_path` on this API), a stream
    token opening the job for `settings.outputs.url_lifetime_seconds`, and its expiry in Unix
    seconds. Raises `RuntimeError` without a stream secret."""
    secret = settings.stream_secret_value()
    if not secret:
        raise RuntimeError("no stream secret: set TFLOW_STREAM_SECRET or run the bootstrap (tflow up does)")
    token, expires = streamtoken.make(secret, job_id, settings.outputs.url_lifetime_seconds)
    public = settings.outputs.public_url(key, token if settings.outputs.stream_tokens else None)
    if public:
        return public, token, expires
    relative = key[len(layout.processed_prefix(job_id)):]
    return api_base.rstrip("/") + stream_path(job_id, token, relative), token, expires


def output_url(settings: Settings, client: Minio, job_id: str, api_base: str) -> Callable[[str], str]:
    """`url(key)` for the outputs of `job_id`: public, or presigned / stream-token URLs
    valid `settings.outputs.url_lifetime_seconds`. `api_base` is this API's own origin
    (scheme://host:port) as the caller reached it."""
    if settings.outputs.public_base_url and not settings.outputs.stream_tokens:
        return lambda key: settings.outputs.public_url(key) or key
    secret = settings.stream_secret_value()
    if not secret:
        raise RuntimeError("no stream secret: set TFLOW_STREAM_SECRET or run the bootstrap (tflow up does)")
    token, _ = streamtoken.make(secret, job_id, settings.outputs.url_lifetime_seconds)
    prefix = layout.processed_prefix(job_id)
    if settings.outputs.public_base_url:
        return lambda key: (settings.outputs.public_url(key, token) if key.startswith(prefix) else None) or key
    lifetime = timedelta(seconds=settings.outputs.url_lifetime_seconds)

    def url(key: str) -> str:
        if key.endswith(".m3u8") and key.startswith(prefix):
            return api_base.rstrip("/") + stream_path(job_id, token, key[len(prefix):])
        return store.presigned_key_url(client, settings.s3.bucket, key, lifetime)

    return url
