"""The S3 object store at the edge (minio client; works with MinIO, AWS and other S3 stores).

The minio client is synchronous: async callers wrap calls in `asyncio.to_thread`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import S3Error

from contracts import ObjectRef, layout
from runtime.settings import Settings


def make_client(settings: Settings) -> Minio:
    """A minio client for `settings.s3.endpoint` (host:port). Raises ValueError if unset."""
    if not settings.s3.endpoint:
        raise ValueError("TFLOW_S3_ENDPOINT is not set (tflow up sets it for the embedded store)")
    return Minio(
        settings.s3.endpoint,
        access_key=settings.s3.access_key.get_secret_value() or None,
        secret_key=settings.s3.secret_key.get_secret_value() or None,
        secure=settings.s3.secure,
        region=settings.s3.region,
    )


def make_presigner(settings: Settings) -> Minio:
    """The client that signs URLs handed to clients: for `settings.s3.public_url` (the
    signature covers the host a client sends, so NGINX passes it on unchanged), else the
    store's own `make_client`. Signing is local: the region is fixed, no request is made."""
    if not settings.s3.public_url:
        return make_client(settings)
    from urllib.parse import urlsplit

    url = urlsplit(settings.s3.public_url)
    if url.scheme not in ("http", "https") or not url.netloc or url.path not in ("", "/"):
        raise ValueError(f"TFLOW_S3_PUBLIC_URL must be scheme://host[:port], not {settings.s3.public_url!r}")
    return Minio(url.netloc, access_key=settings.s3.access_key.get_secret_value() or None,
                 secret_key=settings.s3.secret_key.get_secret_value() or None, secure=url.scheme == "https",
                 region=settings.s3.region or "us-east-1")


def ensure_bucket(client: Minio, bucket: str) -> None:
    """Create `bucket` if it does not exist (idempotent)."""
    if not client.bucket_exists(bucket):
        try:
            client.make_bucket(bucket)
        except S3Error as e:
            if e.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise


#: What S3 stores answer for a key that cannot exist (MinIO: a name segment over 255 bytes,
#: or characters it refuses): for a lookup, that object is simply not there.
UNNAMEABLE = ("XMinioInvalidObjectName", "KeyTooLongError")
_ABSENT = ("NoSuchKey", "NoSuchObject", "NoSuchBucket", "ResourceNotFound", *UNNAMEABLE)


def head(client: Minio, bucket: str, key: str) -> tuple[ObjectRef, dict[str, str]] | None:
    """One HEAD of an object: its `ObjectRef` and its user metadata (`x-amz-meta-<name>`
    headers as `{name: value}`, names in lower case without the prefix), or None when it
    does not exist."""
    try:
        st = client.stat_object(bucket, key)
    except S3Error as e:
        if e.code in _ABSENT:
            return None
        raise
    ref = ObjectRef(bucket=bucket, key=key, etag=(st.etag or "").strip('"'), size=st.size or 0,
                    version_id=st.version_id)
    return ref, {k.lower().removeprefix("x-amz-meta-"): v for k, v in (st.metadata or {}).items()
                 if k.lower().startswith("x-amz-meta-")}


def stat(client: Minio, bucket: str, key: str) -> ObjectRef | None:
    """`ObjectRef` of an existing object, or None when it does not exist."""
    found = head(client, bucket, key)
    return found[0] if found else None


def object_sha256(client: Minio, bucket: str, key: str) -> str | None:
    """The `x-amz-meta-sha256` user metadata the drop folder stores on each upload, or None."""
    found = head(client, bucket, key)
    return found[1].get("sha256") if found else None


def presigned_key_url(client: Minio, bucket: str, key: str, expires: timedelta = timedelta(hours=6)) -> str:
    """A presigned GET URL of `bucket/key`, valid `expires`, that PyAV and ffmpeg read
    directly (HTTP range requests)."""
    return client.presigned_get_object(bucket, key, expires=expires)


def list_objects(client: Minio, bucket: str, prefix: str) -> Iterator[ObjectRef]:
    """Every object under `prefix`, recursively, as `ObjectRef`."""
    for ref, _ in listing(client, bucket, prefix):
        yield ref


def listing(client: Minio, bucket: str, prefix: str) -> Iterator[tuple[ObjectRef, datetime | None]]:
    """Every object under `prefix`, recursively, with its `Last-Modified` time (UTC, by the
    store's clock; None when the store gives none)."""
    for o in client.list_objects(bucket, prefix=prefix, recursive=True):
        if o.is_dir:
            continue
        yield (ObjectRef(bucket=bucket, key=o.object_name, etag=(o.etag or "").strip('"'), size=o.size or 0,
                         version_id=o.version_id), o.last_modified)


class RemovalRefused(RuntimeError):
    """The store answered a multi-object DELETE with an error for a key."""


def remove_objects(client: Minio, bucket: str, prefix: str) -> int:
    """Delete every object under `prefix` (one multi-object DELETE per 1,000 keys, S3
    DeleteObjects); how many there were. Raises `S3Error` when the store refuses one."""
    names = [o.object_name for o in client.list_objects(bucket, prefix=prefix, recursive=True) if o.object_name]
    for start in range(0, len(names), 1000):
        errors = list(client.remove_objects(bucket, (DeleteObject(n) for n in names[start:start + 1000])))
        if errors:
            raise RemovalRefused(f"the store refused to delete {errors[0].name}: {errors[0].code} {errors[0].message}")
    return len(names)


def remove_original(client: Minio, bucket: str, key: str) -> bool:
    """Delete an original and its submission sidecars (`meta/<key>.*`); False if it was gone."""
    found = stat(client, bucket, key) is not None
    remove_objects(client, bucket, layout.meta_key(key).removesuffix(".json"))
    if found:
        client.remove_object(bucket, key)
    return found


#: Content types players and NGINX need (RFC 8216 §4 for playlists).
CONTENT_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t", ".mp4": "video/mp4",
                 ".m4s": "video/iso.segment", ".mp3": "audio/mpeg", ".jpg": "image/jpeg",
                 ".vtt": "text/vtt; charset=utf-8",
                 ".srt": "application/x-subrip; charset=utf-8", ".txt": "text/plain; charset=utf-8",
                 ".json": "application/json"}


def content_type_for(key: str) -> str:
    """The Content-Type stored with an object, by its extension."""
    import mimetypes

    ext = Path(key).suffix.lower()
    return CONTENT_TYPES.get(ext) or mimetypes.guess_type(key)[0] or "application/octet-stream"


#: `Cache-Control` of a playlist that will not change any more (a VOD media playlist, the
#: master of a finished job); NGINX serves it as stored, other playlists short-lived and
#: segments immutable (deploy/nginx/).
FINAL_PLAYLIST_CACHE = "public, max-age=86400"


def cache_control_for(key: str, data: bytes) -> str | None:
    """The `Cache-Control` stored with `key`: `FINAL_PLAYLIST_CACHE` for a media playlist
    that carries `#EXT-X-ENDLIST` (RFC 8216 §4.3.3.4: no more segments), None otherwise
    (the server's default applies)."""
    if key.endswith(".m3u8") and b"#EXT-X-ENDLIST" in data:
        return FINAL_PLAYLIST_CACHE
    return None


def _headers(key: str, data: bytes, metadata: dict | None, cache_control: str | None) -> dict | None:
    control = cache_control or cache_control_for(key, data)
    if control is None:
        return metadata
    return {**(metadata or {}), "Cache-Control": control}


def upload_file(client: Minio, bucket: str, key: str, source: Path | BinaryIO,
                metadata: dict[str, str | list[str] | tuple[str]] | None = None) -> ObjectRef:
    """Upload a local file — a path, or a file already opened (read from its start) —
    streamed, multipart when large, with its content type (and a playlist's
    `cache_control_for`); return its `ObjectRef`."""
    if isinstance(source, Path) and key.endswith(".m3u8"):
        metadata = _headers(key, source.read_bytes(), metadata, None)
    if isinstance(source, Path):
        res = client.fput_object(bucket, key, str(source), metadata=metadata, content_type=content_type_for(key))
    else:
        source.seek(0)
        res = client.put_object(bucket, key, source, os.fstat(source.fileno()).st_size, metadata=metadata,
                                content_type=content_type_for(key))
    st = stat(client, bucket, key)
    assert st is not None, f"{key} vanished right after upload"
    return ObjectRef(bucket=bucket, key=key, etag=(res.etag or st.etag).strip('"'), size=st.size,
                     version_id=res.version_id)


def put_json(client: Minio, bucket: str, key: str, value: object, indent: int | None = None) -> None:
    """Write `value` as JSON at `key`."""
    data = json.dumps(value, indent=indent, separators=None if indent else (",", ":")).encode()
    put_bytes(client, bucket, key, data)


def put_bytes(client: Minio, bucket: str, key: str, data: bytes, cache_control: str | None = None) -> None:
    """Write `data` at `key` with the content type of its extension and `cache_control`
    (default `cache_control_for`)."""
    import io

    client.put_object(bucket, key, io.BytesIO(data), len(data), content_type=content_type_for(key),
                      metadata=_headers(key, data, None, cache_control))


def get_bytes(client: Minio, bucket: str, key: str, max_bytes: int) -> bytes | None:
    """The object at `key`, None if absent. Raises ValueError if larger than `max_bytes`
    (reads at most one byte more)."""
    try:
        resp = client.get_object(bucket, key)
    except S3Error as e:
        if e.code in ("NoSuchKey", "NoSuchObject", *UNNAMEABLE):
            return None
        raise
    try:
        data = resp.read(max_bytes + 1)
    finally:
        resp.close()
        resp.release_conn()
    if len(data) > max_bytes:
        raise ValueError(f"{key} is larger than {max_bytes} bytes")
    return data


#: ARN of MinIO's NATS notification target with identifier PRIMARY.
MINIO_NATS_ARN = "arn:minio:sqs::PRIMARY:nats"


def configure_notifications(client: Minio, bucket: str, arn: str = MINIO_NATS_ARN,
                            prefix: str = layout.RAW_PREFIX) -> None:
    """Event rule on `bucket`: every object creation under `prefix` goes to target `arn`
    (MinIO; ingest keeps only Put/Post/CompleteMultipartUpload/Copy)."""
    from minio.notificationconfig import NotificationConfig, PrefixFilterRule, QueueConfig

    client.set_bucket_notification(bucket, NotificationConfig(queue_config_list=[
        QueueConfig(queue=arn, events=["s3:ObjectCreated:*"], config_id="tflow-raw",
                    prefix_filter_rule=PrefixFilterRule(prefix))
    ]))
