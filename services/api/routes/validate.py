"""`POST /api/v1/jobs/validate` (PRD FR-1.2): the verdict on a file without creating a job —
an upload, an object referenced in a bucket, or a file under a server root, judged by the
rules of ingest (`intake.validation`). 200 with `valid` true (what the file is, what a job
would make of it) or false (the reason code and sentence); 4xx only for a request that
cannot be judged (no file, not the caller's, too large to receive)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile as StarletteUpload
from starlette.exceptions import HTTPException as StarletteHTTPException

from intake.validation import Rejection, judge_source
from runtime.settings import Settings
from runtime.storage import store
from runtime.worker.workdirs import UPLOAD_SPOOL_PREFIX
from services.api.auth import Writer
from services.api.deps import SettingsDep, StoreDep
from services.api.errors import ApiError
from services.api.guards import SafeText
from services.api.models import ErrorBody, Validation
from services.api.routes.submit import (
    FORM_OVERHEAD,
    BodyTooLarge,
    LimitedBody,
    _spool,
    confined,
    referenced_object,
    upload_name,
)
from services.api.verdict import validation_document

router = APIRouter(prefix="/api/v1/jobs/validate", tags=["submit"])
REFUSALS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorBody} for s in (400, 403, 404, 413, 422, 507)}
VALIDATE_BODY = {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary", "description": "The video to judge"}}}}}}


async def _judge(source: str, size: int, filename: str, settings: Settings) -> Validation:
    try:
        probe = await asyncio.to_thread(judge_source, source, size, settings.intake)
    except Rejection as r:
        return Validation.model_validate(validation_document(filename, size, settings, rejection=r))
    return Validation.model_validate(validation_document(filename, size, settings, probe=probe))


@router.post("", summary="Judge an uploaded video (multipart) without creating a job",
             openapi_extra={"requestBody": VALIDATE_BODY}, responses=REFUSALS)
async def validate_upload(request: Request, who: Writer, settings: SettingsDep) -> Validation:
    limit = settings.intake.max_size_bytes + FORM_OVERHEAD
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise ApiError(413, "too_large", f"the upload declares {declared} bytes, above the limit of {limit} bytes")
    if settings.worker.work_dir is not None:
        settings.worker.work_dir.mkdir(parents=True, exist_ok=True)
    try:
        form = await Request(request.scope, receive=LimitedBody(request.receive, limit)).form(
            max_files=1, max_fields=2, max_part_size=4096)
    except BodyTooLarge as e:
        raise ApiError(413, "too_large", f"the upload is larger than {e.args[0]} bytes") from e
    except StarletteHTTPException as e:
        raise ApiError(400 if e.status_code < 500 else 422, "invalid_form", str(e.detail)) from e
    try:
        file = form.get("file")
        if not isinstance(file, StarletteUpload):
            raise ApiError(422, "invalid_request", "the form needs a `file` part holding the video")
        name = upload_name(file.filename)
        with tempfile.TemporaryDirectory(prefix=UPLOAD_SPOOL_PREFIX, dir=settings.worker.work_dir) as d:
            video = Path(d) / "upload"
            size = await asyncio.to_thread(_spool, file, video, settings.intake.max_size_bytes)
            return await _judge(str(video), size, name, settings)
    finally:
        await form.close()


class ObjectReference(BaseModel):
    """An object already in a bucket of the store (as `POST /api/v1/jobs/minio` takes it)."""

    bucket: Annotated[str, Field(min_length=3, max_length=63, pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
                                 examples=["videos"])]
    object_key: Annotated[SafeText, Field(min_length=1, max_length=1024, pattern=r"^[^\x00-\x1f\x7f\\]+$",
                                          examples=["uploads/<your key id>/lecture-01.mp4"])]


@router.post("/minio", summary="Judge an object already in the store without creating a job", responses=REFUSALS)
async def validate_object(body: ObjectReference, who: Writer, settings: SettingsDep, client: StoreDep) -> Validation:
    found = await referenced_object(settings, client, who, body.bucket, body.object_key)
    url = await asyncio.to_thread(store.presigned_key_url, client, body.bucket, body.object_key)
    return await _judge(url, found.size, Path(body.object_key).name, settings)


class PathReference(BaseModel):
    """A file on the API host, inside one of `TFLOW_FS_ROOTS`."""

    file_path: Annotated[SafeText, Field(min_length=1, max_length=4096, examples=["/srv/media/lecture-01.mp4"])]


@router.post("/filesystem", summary="Judge a file under an allowed server root without creating a job",
             responses=REFUSALS)
async def validate_path(body: PathReference, who: Writer, settings: SettingsDep) -> Validation:
    path = confined(body.file_path, settings.api.fs_roots)
    return await _judge(str(path), path.stat().st_size, path.name, settings)
