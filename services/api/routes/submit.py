"""Submitting jobs (202 Accepted): an upload, an object already in a bucket, or a file
under an allowed server root. Each becomes an object in `raw/` (with its submission
sidecar written first) and an announcement on the stream; ingest does the rest."""

from __future__ import annotations

import asyncio
import stat as statmod
import tempfile
from pathlib import Path
from typing import Annotated, Any

import av
from fastapi import APIRouter, File, Form, UploadFile
from minio.error import S3Error
from pydantic import BaseModel, Field

from contracts import JobOptions, ObjectRef, Submission, job_id_for
from media.probe import image_codec
from readmodel import keys
from services.api.auth import Principal, Writer
from services.api.deps import JetStreamDep, PoolDep, SettingsDep, StoreDep
from services.api.errors import ApiError
from tflow.natsio import announce_object
from tflow.settings import Settings
from tflow.submission import (
    CUSTOM_CODECS,
    CUSTOM_MAX_BYTES,
    MetadataError,
    MetadataTooLarge,
    check_metadata,
    options_from_metadata,
    parse_metadata,
)
from tflow.submit import NotSubmittable, SourceMissing, submit_file, submit_object
from tflow.webhooks import WebhookRefused, check_webhook_url

router = APIRouter(prefix="/api/v1/jobs", tags=["submit"])
THUMB_EXT = {"mjpeg": ".jpg", "png": ".png", "webp": ".webp"}
CHUNK = 1 << 20


def accepted(ref: ObjectRef) -> dict[str, Any]:
    """The 202 body: job id (deterministic), where to poll, where the source lives."""
    job_id = job_id_for(ref)
    return {"job_id": job_id, "status": "pending", "status_url": f"/api/v1/jobs/{job_id}",
            "source": {"bucket": ref.bucket, "key": ref.key, "size_bytes": ref.size}}


def metadata_error(e: MetadataError) -> ApiError:
    """413 for metadata over the byte limit, 422 for any other broken rule."""
    return ApiError(413 if isinstance(e, MetadataTooLarge) else 422, "invalid_metadata", str(e))


def build_submission(settings: Settings, who: Principal, metadata: Any, priority: int | None,
                     webhook_url: str | None) -> Submission:
    """User metadata (checked), options read from it, the caller's priority/webhook/key.
    Raises `ApiError` 413 (metadata too large) / 422 (bad values) / 400 (webhook refused)."""
    try:
        meta = check_metadata(metadata if metadata is not None else {}, settings.max_metadata_bytes)
        if priority is not None:
            meta_for_options = {**meta, "priority": priority}
        else:
            meta_for_options = meta
        options = options_from_metadata(meta_for_options, JobOptions())
    except MetadataError as e:
        raise metadata_error(e) from e
    if webhook_url:
        try:
            check_webhook_url(webhook_url, settings.allow_private_webhooks,
                              allowed_hosts=settings.webhook_allowed_hosts)
        except WebhookRefused as e:
            raise ApiError(400, "webhook_refused", str(e)) from e
    return Submission(user_metadata=meta, options=JobOptions(
        priority=options.priority, webhook_url=webhook_url, transcription_language=options.transcription_language,
        whisper_model=options.whisper_model, api_key_id=str(who.id) if who.id else None))


async def announce(js: JetStreamDep, pool: PoolDep, who: Principal, ref: ObjectRef) -> dict[str, Any]:
    """Announce the stored object (ingest takes it from there), count it in the caller's
    usage, and answer 202."""
    await announce_object(js, ref, "api")
    await keys.count_submission(pool, key_id=who.id, size=ref.size)
    return accepted(ref)


def _spool(upload: UploadFile, dest: Path, limit: int) -> int:
    """Copy an upload to `dest` in 1 MiB chunks; raises 413 past `limit` bytes."""
    size = 0
    upload.file.seek(0)
    with dest.open("wb") as out:
        while chunk := upload.file.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise ApiError(413, "too_large", f"upload is larger than {limit} bytes")
            out.write(chunk)
    return size


@router.post("/upload", status_code=202, summary="Upload a video (multipart), streamed to the store")
async def upload(who: Writer, settings: SettingsDep, client: StoreDep, js: JetStreamDep, pool: PoolDep,
                 file: Annotated[UploadFile, File(description="The video")],
                 thumbnail: Annotated[UploadFile | None, File(description="JPG/PNG/WebP, at most 5 MB")] = None,
                 priority: Annotated[int, Form(ge=1, le=10)] = 5,
                 webhook_url: Annotated[str | None, Form(max_length=2048)] = None,
                 metadata: Annotated[str | None, Form(description="A JSON object",
                                                      examples=['{"category":"education"}'])] = None
                 ) -> dict[str, Any]:
    name = Path(file.filename or "").name
    if not name or len(name) > 255 or name.startswith("."):
        raise ApiError(422, "invalid_filename", "the file needs a plain name of 1 to 255 characters")
    try:
        meta = parse_metadata(metadata, settings.max_metadata_bytes) if metadata else None
    except MetadataError as e:
        raise metadata_error(e) from e
    submission = build_submission(settings, who, meta, priority, webhook_url)
    if settings.work_dir is not None:
        settings.work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=settings.work_dir) as d:
        video = Path(d) / "upload"
        await asyncio.to_thread(_spool, file, video, settings.max_size_bytes)
        thumb = None
        if thumbnail is not None:
            raw = Path(d) / "thumbnail"
            await asyncio.to_thread(_spool, thumbnail, raw, CUSTOM_MAX_BYTES)
            try:
                codec, _, _ = await asyncio.to_thread(image_codec, str(raw))
            except (av.FFmpegError, ValueError) as e:
                raise ApiError(422, "invalid_thumbnail", f"thumbnail does not decode as an image: {e}") from e
            if codec not in CUSTOM_CODECS:
                raise ApiError(422, "invalid_thumbnail", f"thumbnail is {codec}, not JPG, PNG or WebP")
            thumb = raw.rename(raw.with_suffix(THUMB_EXT[codec]))
        try:
            ref = await asyncio.to_thread(submit_file, client, settings.bucket, video, name, submission, thumb)
        except NotSubmittable as e:
            raise ApiError(409, "not_submittable", str(e)) from e
    return await announce(js, pool, who, ref)


class ObjectSubmission(BaseModel):
    """An object already in a bucket of the store."""

    bucket: Annotated[str, Field(min_length=3, max_length=63, pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
                                 description="An S3 bucket name (lower case, digits, dots, hyphens)",
                                 examples=["videos"])]
    object_key: Annotated[str, Field(min_length=1, max_length=1024, pattern=r"^[^\x00-\x1f\x7f]+$",
                                     description="An object key (no control characters)",
                                     examples=["uploads/lecture-01.mp4"])]
    priority: Annotated[int, Field(ge=1, le=10)] = 5
    webhook_url: Annotated[str | None, Field(max_length=2048)] = None
    metadata: dict[str, Any] | None = Field(None, examples=[{"category": "education"}])


@router.post("/minio", status_code=202, summary="Process an object already in the store (copied into raw/)")
async def from_object(body: ObjectSubmission, who: Writer, settings: SettingsDep, client: StoreDep, js: JetStreamDep,
                      pool: PoolDep) -> dict[str, Any]:
    submission = build_submission(settings, who, body.metadata, body.priority, body.webhook_url)
    try:
        ref = await asyncio.to_thread(submit_object, client, settings.bucket, body.bucket, body.object_key, submission)
    except SourceMissing as e:
        raise ApiError(404, "not_found", str(e)) from e
    except NotSubmittable as e:
        raise ApiError(409, "not_submittable", str(e)) from e
    except ValueError as e:  # the S3 client refuses the name or key before any request
        raise ApiError(400, "invalid_object", str(e)) from e
    except S3Error as e:  # the store refuses the request itself (a key it cannot take)
        if e.code in ("NoSuchBucket", "AccessDenied"):
            raise ApiError(404, "not_found", f"{body.bucket}/{body.object_key} does not exist") from e
        raise ApiError(400, "invalid_object", f"the store refused {body.bucket}/{body.object_key!r}: {e.code}") from e
    return await announce(js, pool, who, ref)


class PathSubmission(BaseModel):
    """A file on the API host, inside one of `TFLOW_FS_ROOTS`."""

    file_path: Annotated[str, Field(min_length=1, max_length=4096, examples=["/srv/media/lecture-01.mp4"])]
    priority: Annotated[int, Field(ge=1, le=10)] = 5
    webhook_url: Annotated[str | None, Field(max_length=2048)] = None
    metadata: dict[str, Any] | None = None


def confined(file_path: str, roots: list[Path]) -> Path:
    """The resolved regular file, if it lies inside an allowed root. Refuses (never
    reads) `..`, relative paths, symlinks escaping a root, directories and devices."""
    if not roots:
        raise ApiError(403, "forbidden", "filesystem submission is disabled (TFLOW_FS_ROOTS is empty)")
    p = Path(file_path)
    if not p.is_absolute() or ".." in p.parts or "\x00" in file_path:
        raise ApiError(400, "invalid_path", "file_path must be absolute, without '..'")
    resolved = p.resolve()
    if not any(resolved.is_relative_to(r.resolve()) for r in roots):
        raise ApiError(403, "forbidden", "file_path is outside the allowed roots")
    try:
        st = resolved.stat()
    except FileNotFoundError:
        raise ApiError(404, "not_found", f"{file_path} does not exist") from None
    if not statmod.S_ISREG(st.st_mode):
        raise ApiError(400, "not_a_file", f"{file_path} is not a regular file")
    return resolved


@router.post("/filesystem", status_code=202, summary="Process a file under an allowed server root")
async def from_path(body: PathSubmission, who: Writer, settings: SettingsDep, client: StoreDep, js: JetStreamDep,
                    pool: PoolDep) -> dict[str, Any]:
    path = confined(body.file_path, settings.fs_roots)
    if path.stat().st_size > settings.max_size_bytes:
        raise ApiError(413, "too_large", f"{body.file_path} is larger than {settings.max_size_bytes} bytes")
    submission = build_submission(settings, who, body.metadata, body.priority, body.webhook_url)
    try:
        ref = await asyncio.to_thread(submit_file, client, settings.bucket, path, path.name, submission)
    except NotSubmittable as e:
        raise ApiError(409, "not_submittable", str(e)) from e
    return await announce(js, pool, who, ref)
