"""Putting a local file into `raw/` as a new source — the one way the drop folder and the
API do it: hash it, pick a key that overwrites nothing, write the submission sidecar
(and custom thumbnail) under `meta/` first, then upload the file with the submitter's
name in its user metadata (`x-amz-meta-origin`: `inbox` or `api`).

The store's own bucket event often reaches ingest before the submitter's announcement;
the metadata lets ingest label the job by who submitted it either way (`ORIGIN_METADATA`)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import BinaryIO

import msgspec
from minio import Minio

from contracts import ObjectRef, Origin, Submission, layout
from runtime.storage import store
from runtime.storage.files import file_sha256, open_regular

#: The user-metadata name (`x-amz-meta-origin`) that carries the submitter of a source.
ORIGIN_METADATA = "origin"
#: The longest name segment of an object key (MinIO refuses longer ones; bytes of UTF-8).
MAX_SEGMENT_BYTES = 255


def key_problem(key: str) -> str | None:
    """Why the store cannot take `key`, or None: a `/`-separated segment longer than
    `MAX_SEGMENT_BYTES` (MinIO, like the file systems it stores on)."""
    longest = max(len(seg.encode("utf-8", "surrogateescape")) for seg in key.split("/"))
    if longest > MAX_SEGMENT_BYTES:
        return f"name_too_long: {longest} bytes in one name of {key!r}; the store takes {MAX_SEGMENT_BYTES}"
    return None


class NotSubmittable(Exception):
    """The file can never be submitted (unreadable, name clash); the message says why."""


class SourceMissing(NotSubmittable):
    """The object to submit does not exist (HTTP 404 rather than 409)."""


def submit_file(client: Minio, bucket: str, path: Path, name: str, submission: Submission | None,
                thumbnail: Path | None = None, owner: str | None = None, origin: Origin = "api") -> ObjectRef:
    """Upload `path` as `raw/<name>` (`raw/tenants/<owner>/<name>` for an API key `owner`:
    `layout.tenant_prefix`) (blocking) and return its `ObjectRef`.

    An existing object of that name with other content is never overwritten: the file
    goes to `raw/<stem>-<sha256[:12]><ext>` (`layout.raw_keys`); the same content already there (by its
    stored `x-amz-meta-sha256`) is returned as is — the same job. `thumbnail`, when
    given, is stored as `meta/<key>.thumb<ext>` and named in the sidecar. Both files are
    opened without following a symbolic link and must be regular (`files.open_regular`).
    `origin` (`inbox`, `api`) is stored as `x-amz-meta-origin`. Raises `NotSubmittable`,
    also for a key or sidecar key the store cannot take (`key_problem`)."""
    with contextlib.ExitStack() as opened:
        try:
            video = opened.enter_context(open_regular(path))
            thumb = opened.enter_context(open_regular(thumbnail)) if thumbnail is not None else None
            digest = file_sha256(video)
        except OSError as e:
            raise NotSubmittable(f"unreadable: {e.strerror or e}") from e
        return _submit_open(client, bucket, video, name, digest, submission, thumbnail, thumb, owner, origin)


def _submit_open(client: Minio, bucket: str, video: BinaryIO, name: str, digest: str, submission: Submission | None,
                 thumbnail: Path | None, thumb: BinaryIO | None, owner: str | None, origin: Origin) -> ObjectRef:
    for key in layout.raw_keys(name, digest, owner):
        existing = store.stat(client, bucket, key)
        if existing is None:
            break
        if store.object_sha256(client, bucket, key) == digest:
            return existing  # the same file again: the same job
    else:
        raise NotSubmittable(f"name_clash: {layout.raw_keys(name, digest, owner)[0]} and its hashed alternative "
                             "both hold other content")
    _check_keys(key, submission is not None or thumbnail is not None,
                thumbnail.suffix if thumbnail is not None else None)
    if thumbnail is not None and thumb is not None:
        thumb_key = layout.thumbnail_sidecar_key(key, thumbnail.suffix)
        store.upload_file(client, bucket, thumb_key, thumb)
        base = submission or Submission()
        submission = msgspec.structs.replace(base, options=msgspec.structs.replace(base.options,
                                                                                   thumbnail_key=thumb_key))
    if submission is not None:
        store.put_json(client, bucket, layout.meta_key(key), msgspec.to_builtins(submission))
    return store.upload_file(client, bucket, key, video, metadata={"sha256": digest, ORIGIN_METADATA: origin})


def _check_keys(key: str, sidecar: bool, thumbnail_ext: str | None) -> None:
    """Raise `NotSubmittable` when the store cannot take `key` or its sidecars' keys."""
    keys = [key] + ([layout.meta_key(key)] if sidecar else []) + \
        ([layout.thumbnail_sidecar_key(key, thumbnail_ext)] if thumbnail_ext is not None else [])
    for k in keys:
        if problem := key_problem(k):
            raise NotSubmittable(problem)


def submit_object(client: Minio, bucket: str, src_bucket: str, src_key: str,
                  submission: Submission | None, owner: str | None = None) -> ObjectRef:
    """Server-side copy of `src_bucket/src_key` into `raw/<name>` (never overwriting: an
    existing key with another ETag sends it to `raw/<stem>-<etag[:12]><ext>`; the same
    ETag already there is returned as is), sidecar first, origin `api` in its metadata;
    `owner` as in `submit_file`. Raises `SourceMissing` when
    the source does not exist, `NotSubmittable` on a name clash."""
    from minio.commonconfig import CopySource

    src = store.stat(client, src_bucket, src_key)
    if src is None:
        raise SourceMissing(f"{src_bucket}/{src_key} does not exist")
    name = Path(src_key).name
    for key in layout.raw_keys(name, src.etag, owner):
        existing = store.stat(client, bucket, key)
        if existing is None:
            break
        if existing.etag == src.etag:
            return existing
    else:
        raise NotSubmittable(f"name_clash: {layout.raw_keys(name, src.etag, owner)[0]} and its alternative both hold "
                             "other content")
    if submission is not None:
        store.put_json(client, bucket, layout.meta_key(key), msgspec.to_builtins(submission))
    client.copy_object(bucket, key, CopySource(src_bucket, src_key))
    ref = store.stat(client, bucket, key)
    assert ref is not None
    return ref
