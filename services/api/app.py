"""The REST API app: reads the projected tables; submits through the object store and
the event stream like every other source (it never runs media work itself)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Annotated, Literal

import msgspec
from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from contracts import Cancelled, utcnow
from services.api import admin, errors, examples, ops, submit
from services.api.auth import Reader, Writer
from services.api.errors import ApiError
from services.api.keys import Principal, key_hash
from services.api.views import job_view
from services.projector.fold import JOB_COLUMNS
from tflow import store
from tflow.db import create_pool
from tflow.natsio import connect, publish_event
from tflow.settings import Settings
from tflow.submission import MetadataError, parse_metadata

#: Lifetime of a download URL, seconds.
DOWNLOAD_SECONDS = 900
TERMINAL = frozenset({"completed", "failed", "cancelled"})
EVENTS_POLL_SECONDS = 0.5
EVENTS_MAX_SECONDS = 3600.0
JobStatus = Literal["pending", "validating", "processing", "completed", "failed", "cancelled"]
#: Columns of the list view: everything but the large JSONB documents (probe, plan, outputs).
LIST_COLUMNS = ", ".join(c for c in JOB_COLUMNS if c not in ("probe", "plan", "outputs"))
SORTS = {"created_at": "created_at", "completed_at": "completed_at", "priority": "priority"}


def output_key(job_id: str, output: str, tasks: list[dict]) -> str | None:
    """The object key of a named output among the job's completed tasks, or None."""
    for t in tasks:
        for o in t["outputs"]:
            key, name = o["key"], o["key"].rsplit("/", 1)[-1]
            if ((output == "metadata" and t["name"] == "metadata")
                    or (output == "mp3" and t["name"] == "audio_mp3")
                    or (output == t["rendition"] and t["name"] == f"video_{output}")
                    or (output.startswith("hls_") and t["name"] == output)
                    or (output.startswith("thumb_") and name == f"{output}.jpg")
                    or (output.startswith("transcript.") and name == output)):
                return key
    if output == "master" and any(t["name"].startswith("hls_") for t in tasks):
        return f"processed/{job_id}/master.m3u8"
    return None


def json_response(doc: dict) -> Response:
    """JSON encoded by msgspec: the read routes' documents are plain JSON already, and
    FastAPI's generic encoder was the largest cost of a list page under load."""
    return Response(content=msgspec.json.encode(doc), media_type="application/json")


def order_by(sort: str, order: str) -> str:
    """ORDER BY matching the list indexes exactly (db/migrations/*_list_indexes.sql):
    the column, then id, same direction; jobs not completed sort after completed ones."""
    col = SORTS[sort]
    nulls = (" NULLS LAST" if order == "desc" else " NULLS FIRST") if col == "completed_at" else ""
    return f"{col} {order.upper()}{nulls}, id {order.upper()}"


def owner_clause(who: Principal, arg: int) -> tuple[str, list]:
    """SQL condition limiting rows to the caller's jobs (none for the admin key)."""
    return ("", []) if who.is_admin else (f"api_key_id = ${arg}", [who.id])


def create_app(settings: Settings) -> FastAPI:
    """The FastAPI app; its lifespan opens the database pool, NATS and the store client.
    Raises `ValueError` at startup if there is no admin key."""
    admin_key = settings.admin_key_value()
    if not admin_key:
        raise ValueError("no admin key: set TFLOW_ADMIN_KEY or create <data_dir>/admin.key (tflow up does)")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.settings = settings
        app.state.admin_key_hash = key_hash(admin_key)
        app.state.pool = await create_pool(settings.database_url or "")
        app.state.nc = await connect(settings.nats_url or "", "api")
        app.state.js = app.state.nc.jetstream()
        app.state.client = store.make_client(settings)
        try:
            yield
        finally:
            await app.state.pool.close()
            await app.state.nc.drain()

    app = FastAPI(title="Transcode Flow", version="0.2.0", lifespan=lifespan,
                  description="Jobs of the Transcode Flow video pipeline. Every /api/v1 route takes `X-API-Key`.")
    errors.install(app)

    @app.get("/api/v1/jobs/{job_id}", tags=["jobs"], summary="One job: state, progress, tasks, probe data, outputs",
             response_class=JSONResponse)
    async def get_job(job_id: uuid.UUID, request: Request, who: Reader) -> Response:
        pool = request.app.state.pool
        cond, args = owner_clause(who, 2)
        row = await pool.fetchrow(f"SELECT * FROM jobs WHERE id = $1 {'AND ' + cond if cond else ''}", job_id, *args)
        if row is None:
            raise ApiError(404, "not_found", f"job {job_id} does not exist")
        tasks = await pool.fetch("SELECT * FROM tasks WHERE job_id = $1 ORDER BY started_at NULLS LAST, name", job_id)
        return json_response(job_view(dict(row), [dict(t) for t in tasks], settings.public_url))

    @app.get("/api/v1/jobs", tags=["jobs"], summary="Jobs, filtered, sorted and paged", response_class=JSONResponse)
    async def list_jobs(request: Request, who: Reader,
                        status: JobStatus | None = None,
                        limit: Annotated[int, Query(ge=1, le=200)] = 50,
                        offset: Annotated[int, Query(ge=0)] = 0,
                        sort: Literal["created_at", "completed_at", "priority"] = "created_at",
                        order: Literal["asc", "desc"] = "desc",
                        metadata: Annotated[str | None, Query(description='JSON object the user metadata must '
                                                              'contain, e.g. {"category":"education"}')] = None
                        ) -> Response:
        conds, args = [], []
        if status:
            args.append(status)
            conds.append(f"status = ${len(args)}")
        cond, extra = owner_clause(who, len(args) + 1)
        if cond:
            conds.append(cond)
            args += extra
        if metadata is not None:
            try:
                args.append(parse_metadata(metadata, settings.max_metadata_bytes))
            except MetadataError as e:
                raise ApiError(400, "invalid_metadata_filter", str(e)) from e
            conds.append(f"user_metadata @> ${len(args)}::jsonb")
        where = f"WHERE {' AND '.join(conds)}" if conds else ""
        pool = request.app.state.pool
        if metadata is None:  # exact and O(1): the projector keeps job_counts with the rows
            cargs = [a for a in (status, None if who.is_admin else who.id) if a is not None]
            cconds = [c for c, a in (("status = $1", status), (f"api_key_id = ${1 + bool(status)}",
                                                                 None if who.is_admin else who.id)) if a is not None]
            count_sql = ("SELECT coalesce(sum(n), 0)::bigint FROM job_counts "
                         f"{'WHERE ' + ' AND '.join(cconds) if cconds else ''}")
        else:
            count_sql, cargs = f"SELECT count(*) FROM jobs {where}", args
        total, rows = await asyncio.gather(
            pool.fetchval(count_sql, *cargs),
            pool.fetch(f"SELECT {LIST_COLUMNS} FROM jobs {where} ORDER BY {order_by(sort, order)} "
                       f"LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}", *args, limit, offset))
        return json_response({"total": total, "limit": limit, "offset": offset,
                              "jobs": [job_view(dict(r)) for r in rows]})

    async def owned_job(request: Request, job_id: uuid.UUID, who: Principal):
        cond, args = owner_clause(who, 2)
        row = await request.app.state.pool.fetchrow(
            f"SELECT * FROM jobs WHERE id = $1 {'AND ' + cond if cond else ''}", job_id, *args)
        if row is None:
            raise ApiError(404, "not_found", f"job {job_id} does not exist")
        return row

    @app.delete("/api/v1/jobs/{job_id}", status_code=202, tags=["jobs"],
                summary="Cancel a job: workers stop its ffmpeg/Whisper work within seconds")
    async def cancel_job(job_id: uuid.UUID, request: Request, who: Writer) -> dict:
        row = await owned_job(request, job_id, who)
        if row["status"] in TERMINAL:
            raise ApiError(409, "conflict", f"job {job_id} is already {row['status']}")
        await publish_event(request.app.state.js, Cancelled(job_id=str(job_id), at=utcnow(),
                                                            reason="cancelled by request", by=who.name), "api")
        return {"job_id": str(job_id), "status": "cancelled", "status_url": f"/api/v1/jobs/{job_id}"}

    @app.get("/api/v1/jobs/{job_id}/events", tags=["jobs"], response_class=StreamingResponse,
             summary="Server-Sent Events: progress and state changes, ending with the terminal state")
    async def job_events(job_id: uuid.UUID, request: Request, who: Reader) -> StreamingResponse:
        await owned_job(request, job_id, who)
        pool = request.app.state.pool

        async def stream():
            last, idle = None, 0.0
            deadline = time.monotonic() + EVENTS_MAX_SECONDS
            while time.monotonic() < deadline:
                row = await pool.fetchrow("SELECT status, progress_percent, current_task, error_code, error_message "
                                          "FROM jobs WHERE id = $1", job_id)
                tasks = await pool.fetch("SELECT name, status, progress_percent, eta_seconds FROM tasks "
                                         "WHERE job_id = $1 ORDER BY name", job_id)
                doc = {"job_id": str(job_id), **{k: row[k] for k in ("status", "progress_percent", "current_task")},
                       "error": {"code": row["error_code"], "message": row["error_message"]} if row["error_code"]
                       else None, "tasks": [dict(t) for t in tasks]}
                if doc != last:
                    terminal = row["status"] in TERMINAL
                    yield f"event: {'end' if terminal else 'progress'}\ndata: {json.dumps(doc)}\n\n"
                    if terminal:
                        return
                    last, idle = doc, 0.0
                elif idle >= 15:
                    yield ": keep-alive\n\n"
                    idle = 0.0
                if await request.is_disconnected():
                    return
                await asyncio.sleep(EVENTS_POLL_SECONDS)
                idle += EVENTS_POLL_SECONDS

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.get("/api/v1/jobs/{job_id}/download/{output}", tags=["jobs"],
             summary="A short-lived presigned URL for one output",
             description="`output`: `master`, `metadata`, `mp3`, `360p` / `720p` (MP4), `hls_360p` / "
                         "`hls_720p` (media playlist), `thumb_00` … `thumb_100`, `thumb_custom`, "
                         "`transcript.txt|srt|vtt|json`.")
    async def download(job_id: uuid.UUID, output: str, request: Request, who: Reader) -> dict:
        await owned_job(request, job_id, who)
        tasks = await request.app.state.pool.fetch("SELECT * FROM tasks WHERE job_id = $1 AND status = 'completed'",
                                                   job_id)
        key = output_key(str(job_id), output, [dict(t) for t in tasks])
        if key is None:
            raise ApiError(404, "not_found", f"job {job_id} has no output {output!r} (yet)")
        expires = timedelta(seconds=DOWNLOAD_SECONDS)
        url = await asyncio.to_thread(store.presigned_key_url, request.app.state.client, settings.bucket, key, expires)
        return {"output": output, "key": key, "url": url, "expires_in_seconds": DOWNLOAD_SECONDS}

    app.include_router(submit.router)
    app.include_router(admin.router)
    app.include_router(ops.router)
    ops.mount_metrics(app)
    examples.install(app)
    return app
