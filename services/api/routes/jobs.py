"""Job routes: one job, the list, cancel, delete, live progress (SSE), downloads and
streaming tokens. Each handler serves its canonical `/api/v1/...` route and, where the
user guide names one, its short `/api/...` route (the same function, no copy)."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import asyncpg
import msgspec
from fastapi import APIRouter, Query, Request
from fastapi import Path as ApiPath
from fastapi.responses import Response, StreamingResponse
from minio import Minio

from contracts import Cancelled, Deleted, layout, prd, utcnow
from intake.submission import MetadataError, parse_metadata
from readmodel import jobs, keys, submissions
from readmodel.documents import download_key, job_view, locator
from readmodel.rows import TERMINAL
from runtime.storage import store
from services.api.auth import Principal, QueryReader, Reader, Writer
from services.api.deps import FactsDep, PoolDep, PresignDep, ResourcesDep, SettingsDep, StoreDep
from services.api.errors import ApiError
from services.api.models import (
    Download,
    ErrorBody,
    JobCancelled,
    JobDeleted,
    JobDocument,
    JobList,
    ProgressEvent,
    StreamingToken,
)
from services.api.urls import output_url, stream_url

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])
#: The user guide's short surface (`/api/...`): the same handlers.
guide = APIRouter(prefix="/api", tags=["user guide"])

#: Lifetime of a download URL, seconds.
DOWNLOAD_SECONDS = 900
EVENTS_POLL_SECONDS = 0.5
EVENTS_MAX_SECONDS = 3600.0
EVENTS_KEEPALIVE_SECONDS = 15.0
JobStatus = Literal["pending", "validating", "processing", "completed", "failed", "cancelled"]
GONE: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody},
                                         410: {"model": ErrorBody, "description": "The job was deleted"}}


def json_response(doc: dict[str, Any]) -> Response:
    """JSON encoded by msgspec: the read routes' documents are plain JSON already, and
    FastAPI's generic encoder was the largest cost of a list page under load. Their
    models (`responses=`) describe them; the tests validate them against those."""
    return Response(content=msgspec.json.encode(doc), media_type="application/json")


async def owned_job(pool: asyncpg.Pool, job_id: uuid.UUID, who: Principal,
                    accepted: bool = True) -> Mapping[str, Any]:
    """The caller's job row; 404 when it does not exist or belongs to another key, 410
    when it was deleted. A job the API accepted that ingest's first fact has not reached
    yet (a second at most, usually) is a `pending` row (`readmodel.submissions`) when
    `accepted`, else 409 `not_ready` with `Retry-After: 1`."""
    row = await jobs.fetch_job(pool, job_id=job_id, owner=who.owner)
    if row is None:
        submitted = await submissions.fetch_submission(pool, job_id=job_id, owner=who.owner)
        if submitted is None:
            raise ApiError(404, "not_found", f"job {job_id} does not exist")
        if not accepted:
            raise ApiError(409, "not_ready", f"job {job_id} was accepted and is being received; retry in a moment",
                           headers={"Retry-After": "1"})
        return submissions.pending_job(submitted)
    if row["status"] == "deleted":
        raise ApiError(410, "deleted", f"job {job_id} was deleted")
    found: Mapping[str, Any] = row
    return found


@router.get("/{job_id}", summary="One job: state, progress, tasks, probe data, outputs (PRD §4)",
            response_class=Response, responses={200: {"model": JobDocument}, **GONE})
@guide.get("/jobs/{job_id}", summary="One job (user guide; as GET /api/v1/jobs/{job_id})",
           response_class=Response, responses={200: {"model": JobDocument}, **GONE})
async def get_job(job_id: uuid.UUID, who: Reader, pool: PoolDep, settings: SettingsDep, client: PresignDep,
                  request: Request) -> Response:
    row = await owned_job(pool, job_id, who)
    tasks = await jobs.fetch_tasks(pool, job_id=job_id)
    located = locator(settings.s3.bucket, output_url(settings, client, str(job_id), str(request.base_url)))
    return json_response(await asyncio.to_thread(job_view, row, list(tasks), located))


@router.get("", summary="Jobs, filtered, sorted and paged (`limit`/`offset`, or `page`/`per_page`)",
            response_class=Response, responses={200: {"model": JobList}})
@guide.get("/jobs", summary="Jobs (user guide; as GET /api/v1/jobs)", response_class=Response,
           responses={200: {"model": JobList}})
async def list_jobs(who: Reader, pool: PoolDep, settings: SettingsDep,
                    status: JobStatus | None = None,
                    limit: Annotated[int | None, Query(ge=1, le=200, description="default 50")] = None,
                    offset: Annotated[int | None, Query(ge=0, le=2**62)] = None,
                    page: Annotated[int | None, Query(ge=1, le=2**40, description="1-based (user guide)")] = None,
                    per_page: Annotated[int | None, Query(ge=1, le=200, description="user guide; as limit")] = None,
                    sort: jobs.Sort = "created_at",
                    order: jobs.Order = "desc",
                    metadata: Annotated[str | None, Query(description='JSON object the user metadata must '
                                                          'contain, e.g. {"category":"education"}')] = None
                    ) -> Response:
    doc, _ = await list_page(who, pool, settings, status, limit, offset, page, per_page, sort, order, metadata)
    return json_response(doc)


async def list_page(who: Principal, pool: asyncpg.Pool, settings: Any, status: str | None, limit: int | None,
                    offset: int | None, page: int | None, per_page: int | None, sort: jobs.Sort, order: jobs.Order,
                    metadata: str | None) -> tuple[dict[str, Any], list[Mapping[str, Any]]]:
    """The `JobList` document of one page of the caller's jobs, and its rows. 400 for a
    metadata filter that is not a JSON object within the limits."""
    size = per_page or limit or 50
    start = offset if offset is not None else ((page or 1) - 1) * size
    contains = None
    if metadata is not None:
        try:
            contains = parse_metadata(metadata, settings.intake.max_metadata_bytes)
        except MetadataError as e:
            raise ApiError(400, "invalid_metadata_filter", str(e)) from e
    total, rows = await jobs.list_jobs(pool, owner=who.owner, status=status, metadata=contains, sort=sort,
                                       order=order, limit=size, offset=start)
    return {"total": total, "limit": size, "offset": start, "page": start // size + 1, "per_page": size,
            "pages": math.ceil(total / size), "jobs": [job_view(r) for r in rows]}, list(rows)


async def cancel(job_id: uuid.UUID, row: Mapping[str, Any], who: Principal, facts: FactsDep) -> None:
    """Publish the job's `cancelled` fact; 409 when it has ended already."""
    if row["status"] in TERMINAL:
        raise ApiError(409, "conflict", f"job {job_id} is already {row['status']}")
    await facts.publish(Cancelled(job_id=str(job_id), at=utcnow(), reason="cancelled by request", by=who.name))


@router.delete("/{job_id}", summary="Cancel a job (PRD §4): workers stop its ffmpeg/Whisper work within seconds",
               responses=GONE)
@router.post("/{job_id}/cancel", summary="Cancel a job (as DELETE /api/v1/jobs/{job_id})", responses=GONE)
@guide.post("/jobs/{job_id}/cancel", summary="Cancel a job (user guide)", responses=GONE)
async def cancel_job(job_id: uuid.UUID, who: Writer, pool: PoolDep, facts: FactsDep) -> JobCancelled:
    await cancel(job_id, await owned_job(pool, job_id, who, accepted=False), who, facts)
    return JobCancelled(message="Job cancelled successfully", job_id=str(job_id), status="cancelled")


#: How long after a cancel a worker may still finish an upload it had begun: the
#: services' stop grace (3 s) plus an upload of one segment, with margin.
LATE_UPLOAD_SECONDS = 10.0
#: How long a delete waits for the read model to show the job deleted, seconds.
DELETE_FOLD_SECONDS = 5.0


async def remove_late(client: Minio, bucket: str, prefix: str, delay: float) -> None:
    """Remove what a cancelled job's workers wrote under `prefix` after its deletion."""
    await asyncio.sleep(delay)
    late = await asyncio.to_thread(store.remove_objects, client, bucket, prefix)
    if late:
        log.info("removed %d objects written under %s after its job was deleted", late, prefix)


@router.post("/{job_id}/delete", summary="Delete a job: cancel it if running, hide it, remove its files if asked",
             responses=GONE)
@guide.delete("/jobs/{job_id}", summary="Delete a job (user guide; as POST /api/v1/jobs/{job_id}/delete)",
              responses=GONE)
async def delete_job(job_id: uuid.UUID, who: Writer, pool: PoolDep, facts: FactsDep, settings: SettingsDep,
                     client: StoreDep, r: ResourcesDep,
                     delete_files: Annotated[bool, Query(description="Remove its outputs from the store")] = False,
                     delete_original: Annotated[bool, Query(description="Remove its original too (only for the "
                                                            "key that submitted it, or an admin)")] = False
                     ) -> JobDeleted:
    row = await owned_job(pool, job_id, who, accepted=False)
    if delete_original and not who.is_admin and str(row["api_key_id"]) != str(who.id):
        raise ApiError(403, "forbidden", "only the key that submitted a job may delete its original")
    running = row["status"] not in TERMINAL
    if running:
        await cancel(job_id, row, who, facts)
    removed = 0
    prefix = layout.processed_prefix(str(job_id))
    if delete_files:
        removed = await asyncio.to_thread(store.remove_objects, client, settings.s3.bucket, prefix)
        if running:  # a worker may finish an upload it had begun before the cancel reached it
            r.later(remove_late(client, settings.s3.bucket, prefix, LATE_UPLOAD_SECONDS))
    original = False
    if delete_original:
        original = await asyncio.to_thread(store.remove_original, client, settings.s3.bucket, row["source_key"])
        if original:
            await keys.count_deletion(pool, key_id=row["api_key_id"], size=row["file_size_bytes"])
    await facts.publish(Deleted(job_id=str(job_id), at=utcnow(), files_deleted=delete_files,
                                original_deleted=original, by=who.name))
    # read-your-writes: a GET right after this answer says 410, unless the projector lags
    if not await jobs.wait_for_status(pool, job_id=job_id, status="deleted", timeout=DELETE_FOLD_SECONDS):
        log.warning("job %s: the read model has not folded its deletion within %.0fs", job_id, DELETE_FOLD_SECONDS)
    return JobDeleted(message="Job deleted", job_id=str(job_id), status="deleted", was_cancelled=running,
                      deleted_objects=removed + int(original), original_deleted=original)


def progress_document(job_id: uuid.UUID, row: Mapping[str, Any], tasks: list[asyncpg.Record]) -> dict[str, Any]:
    """One SSE event's data (`ProgressEvent`): status, `progress` (percent, the user
    guide's name) and `progress_percent`, the current task's PRD name, error, per task
    its PRD name, our name, status, progress and ETA."""
    current = row["current_task"]
    return {"job_id": str(job_id), "status": row["status"], "progress": row["progress_percent"],
            "progress_percent": row["progress_percent"],
            "current_task": prd.prd_task_name(current) if current else None,
            "error": {"code": row["error_code"], "message": row["error_message"]} if row["error_code"] else None,
            "tasks": [{"name": prd.prd_task_name(t["name"]), "task": t["name"],
                       "status": prd.prd_task_status(t["status"]), "progress_percent": t["progress_percent"],
                       "eta_seconds": t["eta_seconds"]} for t in tasks]}


EVENTS_DESCRIPTION = ("`text/event-stream`: a `progress` event whenever something changes (data: `ProgressEvent`), "
                      "then one `complete` event with the terminal state, and the stream ends. Comments keep it "
                      "alive every 15 s. Browsers' EventSource may pass the key as `?api_key=` (never logged).")


@router.get("/{job_id}/events", response_class=StreamingResponse, description=EVENTS_DESCRIPTION,
            summary="Server-Sent Events: progress and state changes, ending with the terminal state",
            responses={200: {"content": {"text/event-stream": {"schema": ProgressEvent.model_json_schema()}}},
                       **GONE})
@guide.get("/events/{job_id}/progress", response_class=StreamingResponse, description=EVENTS_DESCRIPTION,
           summary="Server-Sent Events (user guide; as GET /api/v1/jobs/{job_id}/events)",
           responses={200: {"content": {"text/event-stream": {"schema": ProgressEvent.model_json_schema()}}},
                      **GONE})
async def job_events(job_id: uuid.UUID, request: Request, who: QueryReader, pool: PoolDep) -> StreamingResponse:
    first = await owned_job(pool, job_id, who)

    async def stream() -> AsyncIterator[str]:
        last, idle = None, 0.0
        deadline = time.monotonic() + EVENTS_MAX_SECONDS
        while time.monotonic() < deadline:
            found, tasks = await jobs.fetch_progress(pool, job_id=job_id)
            row: Mapping[str, Any] | None = found
            if row is None:  # accepted, not projected yet: pending until ingest's first fact lands
                row = {**first, "error_code": None, "error_message": None} if first["origin"] == "api" else None
                if row is None:
                    return
            doc = progress_document(job_id, row, tasks)
            if doc != last:
                terminal = row["status"] in TERMINAL
                yield f"event: {'complete' if terminal else 'progress'}\ndata: {json.dumps(doc)}\n\n"
                if terminal:
                    return
                last, idle = doc, 0.0
            elif idle >= EVENTS_KEEPALIVE_SECONDS:
                yield ": keep-alive\n\n"
                idle = 0.0
            if await request.is_disconnected():
                return
            await asyncio.sleep(EVENTS_POLL_SECONDS)
            idle += EVENTS_POLL_SECONDS

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


DOWNLOAD_DESCRIPTION = ("`file_type`: the user guide's `360p`, `720p`, `audio`, `transcript_txt|srt|vtt|json`, "
                        "`thumbnail` (the primary one), `metadata`; and `master`, `mp3`, `hls_360p` / `hls_720p` "
                        "(media playlist), `thumb_00` … `thumb_100`, `thumb_custom`, `transcript.txt|srt|vtt|json`.")


@router.get("/{job_id}/download/{file_type}", summary="A short-lived presigned URL for one output",
            description=DOWNLOAD_DESCRIPTION, responses=GONE)
@guide.get("/jobs/{job_id}/download/{file_type}", summary="A download URL (user guide)",
           description=DOWNLOAD_DESCRIPTION, responses=GONE)
async def download(job_id: uuid.UUID, file_type: Annotated[str, ApiPath(max_length=64)], who: Reader, pool: PoolDep,
                   settings: SettingsDep, client: PresignDep) -> Download:
    await owned_job(pool, job_id, who)
    tasks = await jobs.fetch_tasks(pool, job_id=job_id, completed_only=True)
    key = download_key(str(job_id), file_type, list(tasks))
    if key is None:
        raise ApiError(404, "not_found", f"job {job_id} has no output {file_type!r} (yet)")
    url = await asyncio.to_thread(store.presigned_key_url, client, settings.s3.bucket, key,
                                  timedelta(seconds=DOWNLOAD_SECONDS))
    return Download(download_url=url, expires_at=datetime.now(UTC) + timedelta(seconds=DOWNLOAD_SECONDS),
                    file_type=file_type, key=key, expires_in_seconds=DOWNLOAD_SECONDS)


streaming = APIRouter(tags=["stream"])


@streaming.get("/api/v1/streaming/token/{job_id}/{resolution}", responses=GONE,
               summary="A stream token and the playlist URL it opens: one rendition, or `master` (every rendition "
                       "and the subtitles)")
@streaming.get("/api/streaming/token/{job_id}/{resolution}", responses=GONE,
               summary="A stream token (user guide; as GET /api/v1/streaming/token/{job_id}/{resolution})")
async def streaming_token(job_id: uuid.UUID, resolution: Annotated[str, ApiPath(max_length=16)], who: Reader,
                          pool: PoolDep, settings: SettingsDep, request: Request, client: StoreDep) -> StreamingToken:
    """While the job encodes, each is playable as soon as it is stored (progressive HLS):
    `master` once the finalizer has listed its first variant, a rendition once the
    transcoder has stored its first segment and the growing `EVENT` playlist naming it."""
    await owned_job(pool, job_id, who)
    jid = str(job_id)
    tasks = await jobs.fetch_tasks(pool, job_id=job_id, completed_only=False)
    name = "master" if resolution in ("master", "auto") else layout.hls_task(resolution)
    key = download_key(jid, name, [t for t in tasks if t["status"] == "completed"])
    if key is None and (name == "master" or name in {t["name"] for t in tasks}):
        growing = layout.master_key(jid) if name == "master" else layout.media_playlist_key(jid, resolution)
        if await asyncio.to_thread(store.stat, client, settings.s3.bucket, growing) is not None:
            key = growing
    if key is None:
        raise ApiError(404, "not_found", f"job {jid} has no {resolution!r} HLS playlist (yet)")
    url, token, expires = stream_url(settings, jid, key, str(request.base_url))
    return StreamingToken(playlist_url=url, token=token, expires_at=datetime.fromtimestamp(expires, UTC), job_id=jid,
                          resolution=resolution)
