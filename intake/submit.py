"""Putting a local file into `raw/` as a new source — the one way the drop folder and the
API do it: hash it, pick a key that overwrites nothing, write the submission sidecar
(and custom thumbnail) under `meta/` first, then upload the file."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import BinaryIO

import msgspec
from minio import Minio

from contracts import ObjectRef, Submission, layout
from runtime.storage import store
from runtime.storage.files import file_sha256, open_regular


class NotSubmittable(Exception):
    """The file can never be submitted (unreadable, name clash); the message says why."""


class SourceMissing(NotSubmittable):
    """The object to submit does not exist (HTTP 404 rather than 409)."""


def submit_file(client: Minio, bucket: str, path: Path, name: str, submission: Submission | None,
                thumbnail: Path | None = None, owner: str | None = None) -> ObjectRef:
    """Upload `path` as `raw/<name>` (`raw/tenants/<owner>/<name>` for an API key `owner`:
    `layout.tenant_prefix`) (blocking) and return its `ObjectRef`.

    An existing object of that name with other content is never overwritten: the file
    goes to `raw/<stem>-<sha256[:12]><ext>` (`layout.raw_keys`); the same content already there (by its
    stored `x-amz-meta-sha256`) is returned as is — the same job. `thumbnail`, when
    given, is stored as `meta/<key>.thumb<ext>` and named in the sidecar. Both files are
    opened without following a symbolic link and must be regular (`files.open_regular`).
    Raises `NotSubmittable`."""
    with contextlib.ExitStack() as opened:
        try:
            video = opened.enter_context(open_regular(path))
            thumb = opened.enter_context(open_regular(thumbnail)) if thumbnail is not None else None
            digest = file_sha256(video)
        except OSError as e:
            raise NotSubmittable(f"unreadable: {e.strerror or e}") from e
        return _submit_open(client, bucket, video, name, digest, submission, thumbnail, thumb, owner)


def _submit_open(client: Minio, bucket: str, video: BinaryIO, name: str, digest: str, submission: Submission | None,
                 thumbnail: Path | None, thumb: BinaryIO | None, owner: str | None) -> ObjectRef:
    for key in layout.raw_keys(name, digest, owner):
        existing = store.stat(client, bucket, key)
        if existing is None:
            break
        if store.object_sha256(client, bucket, key) == digest:
            return existing  # the same file again: the same job
    else:
        raise NotSubmittable(f"name_clash: {layout.raw_keys(name, digest, owner)[0]} and its hashed alternative "
                             "both hold other content")
    if thumbnail is not None and thumb is not None:
        thumb_key = layout.thumbnail_sidecar_key(key, thumbnail.suffix)
        store.upload_file(client, bucket, thumb_key, thumb)
        base = submission or Submission()
        submission = msgspec.structs.replace(base, options=msgspec.structs.replace(base.options,
                                                                                   thumbnail_key=thumb_key))
    if submission is not None:
        store.put_json(client, bucket, layout.meta_key(key), msgspec.to_builtins(submission))
    return store.upload_file(client, bucket, key, video, metadata={"sha256": digest})


def submit_object(client: Minio, bucket: str, src_bucket: str, src_key: str,
                  submission: Submission | None, owner: str | None = None) -> ObjectRef:
    """Server-side copy of `src_bucket/src_key` into `raw/<name>` (never overwriting: an
    existing key with another ETag sends it to `raw/<stem>-<etag[:12]><ext>`; the same
    ETag already there is returned as is), sidecar first; `owner` as in `submit_file`. Raises `SourceMissing` when
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
