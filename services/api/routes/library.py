"""What the web UI reads beyond the job routes: the live job list (SSE), search inside
videos (PostgreSQL full-text search over every transcript and the user metadata), a
job's transcript with word timestamps, and its timeline of facts. The router is
included before the job routes, so `/api/v1/jobs/stream` is not taken for a job id."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from contracts import layout, prd
from readmodel import jobs, search
from readmodel import projection as pstore
from runtime.storage import store
from services.api.auth import Reader
from services.api.deps import PoolDep, SettingsDep, StoreDep
from services.api.errors import ApiError
from services.api.models import JobsUpdate, SearchResults, Timeline, Transcript
from services.api.routes.jobs import EVENTS_KEEPALIVE_SECONDS, EVENTS_MAX_SECONDS, GONE, JobStatus, list_page, owned_job

router = APIRouter(tags=["library"])
#: How often the live list looks for newly projected facts, seconds.
LIST_POLL_SECONDS = 0.5
MAX_TRANSCRIPT_BYTES = 16 << 20


async def _update(who: Any, pool: Any, settings: Any, args: dict[str, Any]) -> dict[str, Any]:
    doc, rows = await list_page(who, pool, settings, **args)
    tasks: dict[str, list[dict[str, Any]]] = {str(r["id"]): [] for r in rows}
    for t in await jobs.fetch_task_progress(pool, job_ids=[r["id"] for r in rows]):
        tasks[str(t["job_id"])].append({"name": prd.prd_task_name(t["name"]), "task": t["name"],
                                        "status": prd.prd_task_status(t["status"]),
                                        "progress_percent": t["progress_percent"], "eta_seconds": t["eta_seconds"]})
    return {**doc, "tasks": tasks}


@router.get("/api/v1/jobs/stream", response_class=StreamingResponse,
            summary="Server-Sent Events: the job list page (as GET /api/v1/jobs takes it) with its tasks, "
                    "again whenever it changes",
            description="`text/event-stream`: a `jobs` event (data: `JobsUpdate`) at once and after every change "
                        "of the page; comments keep it alive every 15 s. The key goes in `X-API-Key` (read the "
                        "stream with fetch, not EventSource, so it stays out of URLs).",
            responses={200: {"content": {"text/event-stream": {"schema": JobsUpdate.model_json_schema()}}}})
async def jobs_stream(request: Request, who: Reader, pool: PoolDep, settings: SettingsDep,
                      status: JobStatus | None = None,
                      limit: Annotated[int | None, Query(ge=1, le=200)] = None,
                      offset: Annotated[int | None, Query(ge=0, le=2**62)] = None,
                      sort: jobs.Sort = "created_at", order: jobs.Order = "desc",
                      metadata: Annotated[str | None, Query(max_length=16384)] = None) -> StreamingResponse:
    args = {"status": status, "limit": limit, "offset": offset, "page": None, "per_page": None, "sort": sort,
            "order": order, "metadata": metadata}
    first = await _update(who, pool, settings, args)  # a bad filter is a 400 before the stream starts

    async def stream() -> AsyncIterator[str]:
        doc, seen, idle = first, await pstore.read_checkpoint(pool), 0.0
        yield f"event: jobs\ndata: {json.dumps(doc, default=str)}\n\n"
        deadline = time.monotonic() + EVENTS_MAX_SECONDS
        while time.monotonic() < deadline and not await request.is_disconnected():
            await asyncio.sleep(LIST_POLL_SECONDS)
            idle += LIST_POLL_SECONDS
            checkpoint = await pstore.read_checkpoint(pool)
            if checkpoint != seen:  # facts were projected: the page may have changed
                seen = checkpoint
                new = await _update(who, pool, settings, args)
                if new != doc:
                    doc, idle = new, 0.0
                    yield f"event: jobs\ndata: {json.dumps(doc, default=str)}\n\n"
            if idle >= EVENTS_KEEPALIVE_SECONDS:
                idle = 0.0
                yield ": keep-alive\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/api/v1/search", summary="Search inside videos: every transcript and the user metadata (PostgreSQL "
                                      "full-text search, ranked, language-aware); jobs with their matching moments")
async def search_videos(who: Reader, pool: PoolDep,
                        q: Annotated[str, Query(min_length=1, max_length=500,
                                                description='words, "a phrase", -not, or (websearch syntax)')],
                        limit: Annotated[int, Query(ge=1, le=100)] = 20,
                        offset: Annotated[int, Query(ge=0, le=10_000)] = 0) -> SearchResults:
    if "\x00" in q:
        raise ApiError(422, "invalid_request", "the query holds a NUL character")
    total, hits = await search.search(pool, q=q, owner=who.owner, limit=limit, offset=offset)
    return SearchResults(query=q, total=total, limit=limit, offset=offset, results=[
        {"job_id": str(h["job_id"]), "filename": h["original_filename"], "status": h["status"],
         "duration_seconds": h["duration_seconds"], "rank": round(float(h["rank"]), 6),
         "metadata_match": h["metadata_match"],
         "moments": json.loads(h["moments"]) if isinstance(h["moments"], str) else h["moments"]} for h in hits])


@router.get("/api/v1/jobs/{job_id}/transcript", responses=GONE,
            summary="The job's transcript with word timestamps (its transcript.json)")
async def transcript(job_id: uuid.UUID, who: Reader, pool: PoolDep, settings: SettingsDep,
                     client: StoreDep) -> Transcript:
    await owned_job(pool, job_id, who)
    data = await asyncio.to_thread(store.get_bytes, client, settings.s3.bucket,
                                   layout.transcript_key(str(job_id), "json"), MAX_TRANSCRIPT_BYTES)
    if data is None:
        raise ApiError(404, "not_found", f"job {job_id} has no transcript (yet)")
    doc = json.loads(data)
    return Transcript(job_id=str(job_id), language=doc.get("language"),
                      language_probability=doc.get("language_probability"), model=doc.get("model"),
                      duration=doc.get("duration"), word_count=doc.get("word_count"), segments=[
                          {"start": s["start"], "end": s["end"], "text": s["text"].strip(),
                           "words": [{"start": w["start"], "end": w["end"], "word": w["word"],
                                      "probability": w.get("probability")} for w in s.get("words") or []]}
                          for s in doc.get("segments", [])])


@router.get("/api/v1/jobs/{job_id}/timeline", responses=GONE,
            summary="The job's facts in order (progress aside): what happened, when, to which task")
async def timeline(job_id: uuid.UUID, who: Reader, pool: PoolDep) -> Timeline:
    await owned_job(pool, job_id, who)
    rows = await search.fetch_timeline(pool, job_id=job_id)
    return Timeline(job_id=str(job_id), facts=[dict(r) for r in rows])
