"""What a media handler does with the object store: read a source in place (a URL
ffmpeg and PyAV open), write an output under the deployment's bucket, look an object
up. `Objects` is that protocol; `S3Objects` is it on any S3 endpoint (minio client,
blocking calls moved to threads), `DirectoryObjects` on a local folder (handler tests)."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Protocol

from minio import Minio

from contracts import ObjectRef
from runtime.storage import store


class Objects(Protocol):
    """Read, write and look up objects; writes go to the deployment's bucket."""

    def url(self, bucket: str, key: str) -> str:
        """A URL (or local path) ffmpeg and PyAV read directly, range requests included."""
        ...

    async def upload(self, key: str, path: Path) -> int:
        """Store the file at `key` with its content type; returns its size in bytes."""
        ...

    async def put(self, key: str, data: bytes, cache_control: str | None = None) -> int:
        """Store `data` at `key` with the content type of its extension and `cache_control`
        (default `store.cache_control_for`); returns its size."""
        ...

    async def stat(self, bucket: str, key: str) -> ObjectRef | None:
        """The object's `ObjectRef`, or None when it does not exist."""
        ...

    async def head(self, bucket: str, key: str) -> tuple[ObjectRef, dict[str, str]] | None:
        """The object's `ObjectRef` and user metadata (`store.head`: names without
        `x-amz-meta-`), or None when it does not exist."""
        ...

    async def read(self, bucket: str, key: str, max_bytes: int) -> bytes | None:
        """A small object's bytes (e.g. a sidecar), None when it does not exist. Raises
        `ValueError` when it is larger than `max_bytes`."""
        ...

    async def remove_prefix(self, prefix: str) -> int:
        """Delete every object of the deployment's bucket under `prefix`; how many."""
        ...


class S3Objects:
    """`Objects` on an S3 endpoint; presigned URLs live `url_lifetime`."""

    def __init__(self, client: Minio, bucket: str, url_lifetime: timedelta = timedelta(hours=6)):
        self.client, self.bucket, self.url_lifetime = client, bucket, url_lifetime

    def url(self, bucket: str, key: str) -> str:
        return store.presigned_key_url(self.client, bucket, key, self.url_lifetime)

    async def upload(self, key: str, path: Path) -> int:
        ref = await asyncio.to_thread(store.upload_file, self.client, self.bucket, key, path)
        return ref.size

    async def put(self, key: str, data: bytes, cache_control: str | None = None) -> int:
        await asyncio.to_thread(store.put_bytes, self.client, self.bucket, key, data, cache_control)
        return len(data)

    async def stat(self, bucket: str, key: str) -> ObjectRef | None:
        return await asyncio.to_thread(store.stat, self.client, bucket, key)

    async def head(self, bucket: str, key: str) -> tuple[ObjectRef, dict[str, str]] | None:
        return await asyncio.to_thread(store.head, self.client, bucket, key)

    async def read(self, bucket: str, key: str, max_bytes: int) -> bytes | None:
        return await asyncio.to_thread(store.get_bytes, self.client, bucket, key, max_bytes)

    async def remove_prefix(self, prefix: str) -> int:
        return await asyncio.to_thread(store.remove_objects, self.client, self.bucket, prefix)


class DirectoryObjects:
    """`Objects` in a local folder: `<root>/<bucket>/<key>`; URLs are file paths."""

    def __init__(self, root: Path, bucket: str):
        self.root, self.bucket = root, bucket

    def path(self, bucket: str, key: str) -> Path:
        """Where `bucket/key` lives on disk."""
        return self.root / bucket / key

    def url(self, bucket: str, key: str) -> str:
        return str(self.path(bucket, key))

    async def upload(self, key: str, path: Path) -> int:
        dest = self.path(self.bucket, key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
        return dest.stat().st_size

    async def put(self, key: str, data: bytes, cache_control: str | None = None) -> int:
        dest = self.path(self.bucket, key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
        return len(data)

    async def stat(self, bucket: str, key: str) -> ObjectRef | None:
        p = self.path(bucket, key)
        if not p.is_file():
            return None
        return ObjectRef(bucket=bucket, key=key, etag=hashlib.md5(p.read_bytes()).hexdigest(),  # an ETag
                         size=p.stat().st_size)

    async def head(self, bucket: str, key: str) -> tuple[ObjectRef, dict[str, str]] | None:
        ref = await self.stat(bucket, key)
        return (ref, {}) if ref else None  # a file in a folder carries no S3 user metadata

    async def read(self, bucket: str, key: str, max_bytes: int) -> bytes | None:
        p = self.path(bucket, key)
        if not p.is_file():
            return None
        with p.open("rb") as f:
            data = f.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise ValueError(f"{key} is larger than {max_bytes} bytes")
        return data

    async def remove_prefix(self, prefix: str) -> int:
        base = self.root / self.bucket
        found = [p for p in base.rglob("*") if p.is_file() and p.relative_to(base).as_posix().startswith(prefix)]
        for p in found:
            p.unlink()
        return len(found)
