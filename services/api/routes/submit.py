"""Submitting jobs (202 Accepted): an upload, an object already in a bucket, or a file
under an allowed server root. Each is judged first (`services.api.verdict`: a refused file
answers 413/415/422 with its reason code, no job, nothing stored); then it becomes an
object in `raw/` (with its submission sidecar written first) and an announcement on the
stream; ingest does the rest."""

from __future__ import annotations

import asyncio
import stat as statmod
import tempfile
import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Request
from minio.error import S3Error
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile as StarletteUpload
from starlette.exceptions import HTTPException as StarletteHTTPException

from contracts import JobOptions, ObjectRef, Submission, job_id_for, utcnow
from intake.submission import (
    CUSTOM_MAX_BYTES,
    CUSTOM_MAX_PIXELS,
    MetadataError,
    MetadataTooLarge,
    UnknownModel,
    check_metadata,
    options_from_metadata,
    parse_metadata,
    reference_allowed,
    text_problem,
)
from intake.submit import NotSubmittable, SourceMissing, submit_file, submit_object
from intake.webhooks import WebhookRefused, check_webhook_url
from media.image import ImageRefused, first_still
from media.whisper_models import installed_names
from readmodel import jobs, keys, submissions
from runtime.jetstream.connection import announce_object
from runtime.settings import Settings
from runtime.storage import store
from runtime.worker.workdirs import UPLOAD_SPOOL_PREFIX
from services.api.auth import Principal, Writer
from services.api.deps import JetStreamDep, PoolDep, SettingsDep, StoreDep
from services.api.errors import ApiError
from services.api.guards import SafeText
from services.api.models import Accepted, ErrorBody, SourceObject
from services.api.verdict import judged

router = APIRouter(prefix="/api/v1/jobs", tags=["submit"])
#: The user guide's `POST /api/upload`: the same handler.
guide = APIRouter(prefix="/api", tags=["user guide"])
REFUSALS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorBody} for s in (400, 403, 404, 409, 413, 415, 422)}
#: A full spool or store answers 507 `insufficient_storage` (services.api.errors).
REFUSALS[507] = {"model": ErrorBody, "description": "No space left on the upload spool or the store; retry later"}
THUMB_EXT = {"mjpeg": ".jpg", "png": ".png", "webp": ".webp"}
CHUNK = 1 << 20
#: Bytes a multipart body may carry beyond its parts (boundaries, part headers).
FORM_OVERHEAD = 64 * 1024


def accepted(ref: ObjectRef, priority: int) -> Accepted:
    """The 202 body (PRD §4, user guide): job id (deterministic), status, message, when,
    priority, the stored file name, where to poll, where the source lives."""
    job_id = job_id_for(ref)
    return Accepted(job_id=job_id, status="pending", message="Job queued successfully", created_at=utcnow(),
                    priority=priority, filename=ref.key.rsplit("/", 1)[-1], status_url=f"/api/v1/jobs/{job_id}",
                    source=SourceObject(bucket=ref.bucket, key=ref.key, size_bytes=ref.size))


def metadata_error(e: MetadataError) -> ApiError:
    """413 for metadata over the byte limit, 422 for any other broken rule."""
    return ApiError(413 if isinstance(e, MetadataTooLarge) else 422, "invalid_metadata", str(e))


def build_submission(settings: Settings, who: Principal, metadata: Any, priority: int | None,
                     webhook_url: str | None) -> Submission:
    """User metadata (checked), options read from it, the caller's priority/webhook/key.
    Raises `ApiError` 413 (metadata too large) / 422 (bad values) / 400 (webhook refused)."""
    try:
        meta = check_metadata(metadata if metadata is not None else {}, settings.intake.max_metadata_bytes)
        if priority is not None:
            meta_for_options = {**meta, "priority": priority}
        else:
            meta_for_options = meta
        options = options_from_metadata(meta_for_options, JobOptions(), installed_names(settings.whisper.model_dir))
    except UnknownModel as e:
        raise ApiError(422, "unknown_model", str(e)) from e
    except MetadataError as e:
        raise metadata_error(e) from e
    if webhook_url:
        try:
            check_webhook_url(webhook_url, settings.webhooks.allow_private,
                              allowed_hosts=settings.webhooks.allowed_hosts)
        except WebhookRefused as e:
            raise ApiError(400, "webhook_refused", str(e)) from e
    return Submission(user_metadata=meta, options=JobOptions(
        priority=options.priority, webhook_url=webhook_url, transcription_language=options.transcription_language,
        whisper_model=options.whisper_model, api_key_id=str(who.id) if who.id else None))


async def announce(js: JetStreamDep, pool: PoolDep, who: Principal, ref: ObjectRef, priority: int) -> Accepted:
    """Announce the stored object (ingest takes it from there), count it in the caller's
    usage, and answer 202. 409 `job_deleted` when the object's job (its id is derived from
    the object, so the same file under the same name is the same job) was deleted."""
    job_id = uuid.UUID(job_id_for(ref))
    earlier = await jobs.fetch_job(pool, job_id=job_id, owner=None)
    if earlier is not None and earlier["status"] == "deleted":
        raise ApiError(409, "job_deleted", f"this file is job {job_id}, which was deleted; submit it under "
                       "another file name to process it again")
    await submissions.record_submission(pool, job_id=job_id, key_id=who.id, bucket=ref.bucket, key=ref.key,
                                        size=ref.size, priority=priority)
    await keys.count_submission(pool, key_id=who.id, size=ref.size)
    await announce_object(js, ref, "api")
    return accepted(ref, priority)


async def check_quota(pool: PoolDep, who: Principal, size: int) -> None:
    """413 `quota_exceeded` when `size` more bytes would pass the key's storage quota."""
    if who.id is None or who.storage_quota_bytes is None:
        return
    used = await keys.stored_bytes(pool, key_id=who.id)
    if used + size > who.storage_quota_bytes:
        raise ApiError(413, "quota_exceeded", f"this upload of {size} bytes would pass the key's storage quota: "
                       f"{used} of {who.storage_quota_bytes} bytes are used",
                       {"used_bytes": used, "quota_bytes": who.storage_quota_bytes, "size_bytes": size})


def _spool(upload: StarletteUpload, dest: Path, limit: int) -> int:
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


def upload_name(filename: str | None) -> str:
    """The stored name of an uploaded file: its last path part, 1 to 255 UTF-8 bytes, no
    leading dot, no control character, backslash, NUL or lone surrogate. Raises 422."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    problem = text_problem(name)
    if (problem or not name or name.startswith(".") or len(name.encode("utf-8", "surrogatepass")) > 255
            or any(ord(c) < 0x20 or ord(c) == 0x7F for c in name) or "\\" in (filename or "")):
        raise ApiError(422, "invalid_filename", "the file needs a plain name of 1 to 255 bytes, without a leading "
                       "dot, control characters or backslashes")
    return name


class LimitedBody:
    """An ASGI `receive` that refuses a body past `limit` bytes (`BodyTooLarge`), so a
    multipart parse stops at the limit instead of spooling whatever is sent."""

    def __init__(self, receive: Any, limit: int):
        self.receive, self.limit, self.seen = receive, limit, 0

    async def __call__(self) -> Any:
        message = await self.receive()
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if self.seen > self.limit:
                raise BodyTooLarge(self.limit)
        return message


class BodyTooLarge(Exception):
    """The request body passed its limit."""


#: The multipart body of an upload, for the OpenAPI document (the route reads the form
#: itself, after authenticating the caller).
UPLOAD_BODY = {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary", "description": "The video"},
        "thumbnail": {"type": "string", "format": "binary", "description": "JPG/PNG/WebP, at most 5 MB"},
        "priority": {"type": "integer", "minimum": 1, "maximum": 10, "default": 5},
        "webhook_url": {"type": "string", "maxLength": 2048},
        "metadata": {"type": "string", "description": "A JSON object", "example": '{"category":"education"}'}}}}}}


def _form_text(form: Any, name: str, max_length: int) -> str | None:
    value = form.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(422, "invalid_request", f"{name} must be a text field")
    if len(value) > max_length:
        raise ApiError(422, "invalid_request", f"{name} is longer than {max_length} characters")
    if problem := text_problem(value):
        raise ApiError(422, "invalid_request", f"{name} {problem}")
    return value


def _priority(text: str | None) -> int:
    if text is None:
        return 5
    if not text.strip().isdigit() or not 1 <= int(text) <= 10:
        raise ApiError(422, "invalid_request", "priority must be an integer from 1 to 10")
    return int(text)


UPLOAD_DESCRIPTION = ("The key, its scope, its rate limit and its storage quota are checked before a byte of the "
                      "body is read; a declared `Content-Length` above the limit is refused at once (413).")


@router.post("/upload", status_code=202, summary="Upload a video (multipart), streamed to the store",
             description=UPLOAD_DESCRIPTION, openapi_extra={"requestBody": UPLOAD_BODY}, responses=REFUSALS)
@guide.post("/upload", status_code=202, summary="Upload a video (user guide; as POST /api/v1/jobs/upload)",
            description=UPLOAD_DESCRIPTION, openapi_extra={"requestBody": UPLOAD_BODY}, responses=REFUSALS)
async def upload(request: Request, who: Writer, settings: SettingsDep, client: StoreDep, js: JetStreamDep,
                 pool: PoolDep) -> Accepted:
    limit = settings.intake.max_size_bytes + CUSTOM_MAX_BYTES + settings.intake.max_metadata_bytes * 4 + FORM_OVERHEAD
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise ApiError(413, "too_large", f"the upload declares {declared} bytes, above the limit of {limit} bytes")
    if declared is not None:
        await check_quota(pool, who, max(0, int(declared) - FORM_OVERHEAD - CUSTOM_MAX_BYTES))
    limited = Request(request.scope, receive=LimitedBody(request.receive, limit))
    if settings.worker.work_dir is not None:
        settings.worker.work_dir.mkdir(parents=True, exist_ok=True)
    try:
        form = await limited.form(max_files=2, max_fields=8,
                                  max_part_size=settings.intake.max_metadata_bytes * 4 + 4096)
    except BodyTooLarge as e:
        raise ApiError(413, "too_large", f"the upload is larger than {e.args[0]} bytes") from e
    except StarletteHTTPException as e:  # the multipart parser's own refusals (too many parts, bad framing)
        raise ApiError(400 if e.status_code < 500 else 422, "invalid_form", str(e.detail)) from e
    try:
        file, thumbnail = form.get("file"), form.get("thumbnail")
        if not isinstance(file, StarletteUpload):
            raise ApiError(422, "invalid_request", "the form needs a `file` part holding the video")
        if thumbnail is not None and not isinstance(thumbnail, StarletteUpload):
            raise ApiError(422, "invalid_request", "`thumbnail` must be a file part")
        name = upload_name(file.filename)
        metadata = _form_text(form, "metadata", settings.intake.max_metadata_bytes * 4)
        try:
            meta = parse_metadata(metadata, settings.intake.max_metadata_bytes) if metadata else None
        except MetadataError as e:
            raise metadata_error(e) from e
        priority = _priority(_form_text(form, "priority", 8))
        submission = build_submission(settings, who, meta, priority, _form_text(form, "webhook_url", 2048))
        with tempfile.TemporaryDirectory(prefix=UPLOAD_SPOOL_PREFIX, dir=settings.worker.work_dir) as d:
            video = Path(d) / "upload"
            size = await asyncio.to_thread(_spool, file, video, settings.intake.max_size_bytes)
            await judged(str(video), size, settings)  # a refused file answers now: no job, nothing stored
            await check_quota(pool, who, size)
            thumb = None
            if thumbnail is not None:
                raw = Path(d) / "thumbnail"
                await asyncio.to_thread(_spool, thumbnail, raw, CUSTOM_MAX_BYTES)
                try:
                    still, codec, _, _ = await asyncio.to_thread(first_still, raw.read_bytes(), CUSTOM_MAX_PIXELS)
                except ImageRefused as e:
                    raise ApiError(422, "invalid_thumbnail", f"The thumbnail is refused: {e}.") from e
                thumb = raw.with_suffix(THUMB_EXT[codec])
                thumb.write_bytes(still)  # an animated image's first frame
            try:
                ref = await asyncio.to_thread(submit_file, client, settings.s3.bucket, video, name, submission, thumb,
                                              str(who.id) if who.id else None)
            except NotSubmittable as e:
                raise ApiError(409, "not_submittable", str(e)) from e
    finally:
        await form.close()
    return await announce(js, pool, who, ref, priority)


class ObjectSubmission(BaseModel):
    """An object already in a bucket of the store."""

    bucket: Annotated[str, Field(min_length=3, max_length=63, pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
                                 description="An S3 bucket name (lower case, digits, dots, hyphens)",
                                 examples=["videos"])]
    object_key: Annotated[SafeText, Field(min_length=1, max_length=1024, pattern=r"^[^\x00-\x1f\x7f\\]+$",
                                          description="An object key under a prefix the caller may read "
                                          "(TFLOW_REFERENCE_PREFIXES; no control characters or backslashes)",
                                          examples=["uploads/<your key id>/lecture-01.mp4"])]
    priority: Annotated[int, Field(ge=1, le=10)] = 5
    webhook_url: Annotated[SafeText | None, Field(max_length=2048)] = None
    metadata: dict[str, Any] | None = Field(None, examples=[{"category": "education"}])


def not_found(bucket: str, key: str) -> ApiError:
    """The one answer to a reference that is missing or not the caller's (404)."""
    return ApiError(404, "not_found", f"{bucket}/{key} does not exist")


async def referenced_object(settings: Settings, client: Any, who: Principal, bucket: str, key: str) -> ObjectRef:
    """The existing object `bucket/key` a caller may submit by reference
    (`reference_allowed`). Raises `ApiError` 404 when it is missing or not the caller's:
    "not yours" answers exactly like "missing", so existence does not leak."""
    owner = str(who.id) if who.id else None
    missing = not_found(bucket, key)
    if not reference_allowed(settings.api.reference_prefixes, settings.s3.bucket, owner, bucket, key) \
            or not Path(key).name:
        raise missing
    try:
        found = await asyncio.to_thread(store.stat, client, bucket, key)
    except (ValueError, S3Error) as e:
        raise missing from e
    if found is None:
        raise missing
    return found


@router.post("/minio", status_code=202, summary="Process an object already in the store (copied into raw/)",
             responses=REFUSALS)
async def from_object(body: ObjectSubmission, who: Writer, settings: SettingsDep, client: StoreDep, js: JetStreamDep,
                      pool: PoolDep) -> Accepted:
    owner = str(who.id) if who.id else None
    missing = not_found(body.bucket, body.object_key)
    submission = build_submission(settings, who, body.metadata, body.priority, body.webhook_url)
    found = await referenced_object(settings, client, who, body.bucket, body.object_key)
    await judged(await asyncio.to_thread(store.presigned_key_url, client, body.bucket, body.object_key),
                 found.size, settings)
    await check_quota(pool, who, found.size)
    try:
        ref = await asyncio.to_thread(submit_object, client, settings.s3.bucket, body.bucket, body.object_key,
                                      submission, owner)
    except SourceMissing as e:
        raise missing from e
    except NotSubmittable as e:
        raise ApiError(409, "not_submittable", str(e)) from e
    except ValueError as e:  # the S3 client refuses the name or key before any request
        raise ApiError(400, "invalid_object", str(e)) from e
    except S3Error as e:  # the store refuses the request itself (a key it cannot take)
        if e.code in ("NoSuchBucket", "AccessDenied"):
            raise missing from e
        raise ApiError(400, "invalid_object", f"the store refused {body.bucket}/{body.object_key!r}: {e.code}") from e
    return await announce(js, pool, who, ref, body.priority)


class PathSubmission(BaseModel):
    """A file on the API host, inside one of `TFLOW_FS_ROOTS`."""

    file_path: Annotated[SafeText, Field(min_length=1, max_length=4096, examples=["/srv/media/lecture-01.mp4"])]
    priority: Annotated[int, Field(ge=1, le=10)] = 5
    webhook_url: Annotated[SafeText | None, Field(max_length=2048)] = None
    metadata: dict[str, Any] | None = None


def confined(file_path: str, roots: list[Path]) -> Path:
    """The resolved regular file, if it lies inside an allowed root. Refuses (never
    reads) `..`, relative paths, symlinks escaping a root, hard links, directories and devices."""
    if not roots:
        raise ApiError(403, "forbidden", "filesystem submission is disabled (TFLOW_FS_ROOTS is empty)")
    p = Path(file_path)
    if not p.is_absolute() or ".." in p.parts or "\x00" in file_path:
        raise ApiError(400, "invalid_path", "file_path must be absolute, without '..'")
    try:
        resolved = p.resolve()
        if not any(resolved.is_relative_to(r.resolve()) for r in roots):
            raise ApiError(403, "forbidden", "file_path is outside the allowed roots")
        st = resolved.stat()
    except FileNotFoundError:
        raise ApiError(404, "not_found", f"{file_path} does not exist") from None
    except OSError as e:  # a name or path too long, a loop of links, ...
        raise ApiError(400, "invalid_path", f"file_path cannot be used: {e.strerror}") from None
    if not statmod.S_ISREG(st.st_mode):
        raise ApiError(400, "not_a_file", f"{file_path} is not a regular file")
    if st.st_nlink > 1:  # a second name for a file that may lie outside the roots
        raise ApiError(400, "hard_link", f"{file_path} is a hard link ({st.st_nlink} names for one file)")
    return resolved


@router.post("/filesystem", status_code=202, summary="Process a file under an allowed server root",
             responses=REFUSALS)
async def from_path(body: PathSubmission, who: Writer, settings: SettingsDep, client: StoreDep, js: JetStreamDep,
                    pool: PoolDep) -> Accepted:
    path = confined(body.file_path, settings.api.fs_roots)
    submission = build_submission(settings, who, body.metadata, body.priority, body.webhook_url)
    await judged(str(path), path.stat().st_size, settings)
    await check_quota(pool, who, path.stat().st_size)
    try:
        ref = await asyncio.to_thread(submit_file, client, settings.s3.bucket, path, path.name, submission, None,
                                      str(who.id) if who.id else None)
    except NotSubmittable as e:
        raise ApiError(409, "not_submittable", str(e)) from e
    return await announce(js, pool, who, ref, body.priority)
