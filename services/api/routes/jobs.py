"""Job routes: one job, the list, cancel, live events (SSE), downloads."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated, Any, Literal

import asyncpg
import msgspec
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from contracts import Cancelled, utcnow
from readmodel import jobs
from readmodel.documents import download_key, job_view
from readmodel.rows import TERMINAL
from services.api.auth import Principal, Reader, Writer
from services.api.deps import FactsDep, PoolDep, SettingsDep, StoreDep
from services.api.errors import ApiError
from services.api.urls import output_url
from tflow import store
from tflow.submission import MetadataError, parse_metadata

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])

#: Lifetime of a download URL, seconds.
DOWNLOAD_SECONDS = 900
EVENTS_POLL_SECONDS = 0.5
EVENTS_MAX_SECONDS = 3600.0
EVENTS_KEEPALIVE_SECONDS = 15.0
JobStatus = Literal["pending", "validating", "processing", "completed", "failed", "cancelled"]


def json_response(doc: dict[str, Any]) -> Response:
    """JSON encoded by msgspec: the read routes' documents are plain JSON already, and
    FastAPI's generic encoder was the largest cost of a list page under load."""
    return Response(content=msgspec.json.encode(doc), media_type="application/json")


async def owned_job(pool: asyncpg.Pool, job_id: uuid.UUID, who: Principal) -> asyncpg.Record:
    """The caller's job row; 404 when it does not exist or belongs to another key."""
    row = await jobs.fetch_job(pool, job_id=job_id, owner=who.owner)
    if row is None:
        raise ApiError(404, "not_found", f"job {job_id} does not exist")
    return row


@router.get("/{job_id}", summary="One job: state, progress, tasks, probe data, outputs", response_class=JSONResponse)
async def get_job(job_id: uuid.UUID, who: Reader, pool: PoolDep, settings: SettingsDep, client: StoreDep,
                  request: Request) -> Response:
    row = await owned_job(pool, job_id, who)
    tasks = await jobs.fetch_tasks(pool, job_id=job_id)
    url = output_url(settings, client, str(job_id), str(request.base_url))
    return json_response(await asyncio.to_thread(job_view, row, list(tasks), url))


@router.get("", summary="Jobs, filtered, sorted and paged", response_class=JSONResponse)
async def list_jobs(who: Reader, pool: PoolDep, settings: SettingsDep,
                    status: JobStatus | None = None,
                    limit: Annotated[int, Query(ge=1, le=200)] = 50,
                    offset: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
                    sort: jobs.Sort = "created_at",
                    order: jobs.Order = "desc",
                    metadata: Annotated[str | None, Query(description='JSON object the user metadata must '
                                                          'contain, e.g. {"category":"education"}')] = None
                    ) -> Response:
    contains = None
    if metadata is not None:
        try:
            contains = parse_metadata(metadata, settings.max_metadata_bytes)
        except MetadataError as e:
            raise ApiError(400, "invalid_metadata_filter", str(e)) from e
    total, rows = await jobs.list_jobs(pool, owner=who.owner, status=status, metadata=contains, sort=sort,
                                       order=order, limit=limit, offset=offset)
    return json_response({"total": total, "limit": limit, "offset": offset, "jobs": [job_view(r) for r in rows]})


@router.delete("/{job_id}", status_code=202,
               summary="Cancel a job: workers stop its ffmpeg/Whisper work within seconds")
async def cancel_job(job_id: uuid.UUID, who: Writer, pool: PoolDep, facts: FactsDep) -> dict[str, Any]:
    row = await owned_job(pool, job_id, who)
    if row["status"] in TERMINAL:
        raise ApiError(409, "conflict", f"job {job_id} is already {row['status']}")
    await facts.publish(Cancelled(job_id=str(job_id), at=utcnow(), reason="cancelled by request", by=who.name))
    return {"job_id": str(job_id), "status": "cancelled", "status_url": f"/api/v1/jobs/{job_id}"}


def progress_document(job_id: uuid.UUID, row: asyncpg.Record, tasks: list[asyncpg.Record]) -> dict[str, Any]:
    """One SSE event's data: status, progress, current task, error, per-task progress."""
    return {"job_id": str(job_id), **{k: row[k] for k in ("status", "progress_percent", "current_task")},
            "error": {"code": row["error_code"], "message": row["error_message"]} if row["error_code"] else None,
            "tasks": [dict(t) for t in tasks]}


@router.get("/{job_id}/events", response_class=StreamingResponse,
            summary="Server-Sent Events: progress and state changes, ending with the terminal state")
async def job_events(job_id: uuid.UUID, request: Request, who: Reader, pool: PoolDep) -> StreamingResponse:
    await owned_job(pool, job_id, who)

    async def stream() -> AsyncIterator[str]:
        last, idle = None, 0.0
        deadline = time.monotonic() + EVENTS_MAX_SECONDS
        while time.monotonic() < deadline:
            row, tasks = await jobs.fetch_progress(pool, job_id=job_id)
            if row is None:
                return
            doc = progress_document(job_id, row, tasks)
            if doc != last:
                terminal = row["status"] in TERMINAL
                yield f"event: {'end' if terminal else 'progress'}\ndata: {json.dumps(doc)}\n\n"
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


@router.get("/{job_id}/download/{output}", summary="A short-lived presigned URL for one output",
            description="`output`: `master`, `metadata`, `mp3`, `360p` / `720p` (MP4), `hls_360p` / "
                        "`hls_720p` (media playlist), `thumb_00` … `thumb_100`, `thumb_custom`, "
                        "`transcript.txt|srt|vtt|json`.")
async def download(job_id: uuid.UUID, output: str, who: Reader, pool: PoolDep, settings: SettingsDep,
                   client: StoreDep) -> dict[str, Any]:
    await owned_job(pool, job_id, who)
    tasks = await jobs.fetch_tasks(pool, job_id=job_id, completed_only=True)
    key = download_key(str(job_id), output, list(tasks))
    if key is None:
        raise ApiError(404, "not_found", f"job {job_id} has no output {output!r} (yet)")
    url = await asyncio.to_thread(store.presigned_key_url, client, settings.bucket, key,
                                  timedelta(seconds=DOWNLOAD_SECONDS))
    return {"output": output, "key": key, "url": url, "expires_in_seconds": DOWNLOAD_SECONDS}
