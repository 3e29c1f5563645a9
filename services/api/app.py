"""The REST API app: reads only the projected tables (`jobs`, `tasks`)."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from contextlib import asynccontextmanager
from typing import Annotated, Literal

import asyncpg
from fastapi import Depends, FastAPI, Query, Request
from fastapi.security import APIKeyHeader

from services.api import errors
from services.api.errors import ApiError
from services.api.views import job_view
from tflow.db import create_pool
from tflow.settings import Settings

JobStatus = Literal["pending", "validating", "processing", "completed", "failed", "cancelled"]
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key (the admin key for now)")


def sha256_hex(text: str) -> str:
    """SHA-256 hex digest of a key (keys are stored and compared hashed, PRD §8.1)."""
    return hashlib.sha256(text.encode()).hexdigest()


def pool(request: Request) -> asyncpg.Pool:
    """Dependency: the app's database pool."""
    return request.app.state.pool


async def api_key(request: Request, key: Annotated[str | None, Depends(_api_key_header)]) -> str:
    """Dependency: the caller's identity from `X-API-Key`; 401 when missing or unknown."""
    if not key:
        raise ApiError(401, "unauthorized", "missing X-API-Key header")
    if not hmac.compare_digest(sha256_hex(key), request.app.state.admin_key_hash):
        raise ApiError(401, "unauthorized", "invalid API key")
    return "admin"


def create_app(settings: Settings) -> FastAPI:
    """The FastAPI app; its lifespan opens the database pool from `settings.database_url`.
    Raises `ValueError` at startup if there is no admin key."""
    admin = settings.admin_key_value()
    if not admin:
        raise ValueError("no admin key: set TFLOW_ADMIN_KEY or create <data_dir>/admin.key (tflow up does)")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.pool = await create_pool(settings.database_url or "")
        app.state.admin_key_hash = sha256_hex(admin)
        try:
            yield
        finally:
            await app.state.pool.close()

    app = FastAPI(title="Transcode Flow", version="0.1.0", lifespan=lifespan,
                  description="Jobs of the Transcode Flow video pipeline.")
    errors.install(app)

    @app.get("/health", tags=["health"], summary="Liveness and database reachability")
    async def health(db: Annotated[asyncpg.Pool, Depends(pool)]) -> dict:
        try:
            await db.fetchval("SELECT 1")
            return {"status": "ok", "database": "ok"}
        except Exception as e:
            raise ApiError(503, "unavailable", f"database unreachable: {e}") from e

    @app.get("/api/v1/jobs/{job_id}", tags=["jobs"], summary="One job with its tasks and probe data")
    async def get_job(job_id: uuid.UUID, db: Annotated[asyncpg.Pool, Depends(pool)],
                      _: Annotated[str, Depends(api_key)]) -> dict:
        row = await db.fetchrow("SELECT * FROM jobs WHERE id = $1", job_id)
        if row is None:
            raise ApiError(404, "not_found", f"job {job_id} does not exist")
        tasks = await db.fetch("SELECT * FROM tasks WHERE job_id = $1 ORDER BY started_at NULLS LAST, name", job_id)
        return job_view(dict(row), [dict(t) for t in tasks], settings.public_url)

    @app.get("/api/v1/jobs", tags=["jobs"], summary="Jobs, newest first")
    async def list_jobs(db: Annotated[asyncpg.Pool, Depends(pool)], _: Annotated[str, Depends(api_key)],
                        status: JobStatus | None = None,
                        limit: Annotated[int, Query(ge=1, le=200)] = 50,
                        offset: Annotated[int, Query(ge=0)] = 0) -> dict:
        where, args = ("WHERE status = $1", [status]) if status else ("", [])
        total = await db.fetchval(f"SELECT count(*) FROM jobs {where}", *args)
        rows = await db.fetch(
            f"SELECT * FROM jobs {where} ORDER BY created_at DESC, id LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}",
            *args, limit, offset)
        return {"total": total, "limit": limit, "offset": offset, "jobs": [job_view(dict(r)) for r in rows]}

    return app
