"""The REST API app: lifespan (database pool, NATS, store client) and routers. It reads
the projected tables and submits through the object store and the event stream like
every other source (it never runs media work itself)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from nats.aio.client import Client as NATS

from readmodel.db import create_pool
from readmodel.keys import key_hash
from runtime.jetstream.connection import NatsRefused, close, connect
from runtime.settings import Settings
from runtime.storage import store
from runtime.storage.space import work_root
from services.api import errors, examples
from services.api.deps import Resources
from services.api.guards import JsonBodyGuard
from services.api.routes import admin, jobs, library, ops, stream, submit, validate
from services.api.web import mount_ui

log = logging.getLogger(__name__)


async def _connect(settings: Settings, nc: NATS) -> None:
    """Connect the API's client; a refusal of its credentials is logged (and /health tells)."""
    try:
        await connect(settings, "api", nc)
    except NatsRefused as e:
        log.error("%s", e)


def create_app(settings: Settings) -> FastAPI:
    """The FastAPI app; its lifespan opens the database pool, NATS and the store client.
    Secrets are read here, once (`Settings.with_secrets`). Raises `ValueError` at startup
    if there is no admin key."""
    settings = settings.with_secrets()
    admin_key = settings.admin_key_value()
    if not admin_key:
        raise ValueError("no admin key: set TFLOW_ADMIN_KEY or create <data_dir>/admin.key (tflow up does)")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await create_pool(settings.database.url or "")
        # NATS is connected in the background: the API serves (and /health tells) while
        # the server is away, and a stop during that wait is not held up by it
        nc = NATS()
        connecting = asyncio.create_task(_connect(settings, nc))
        app.state.resources = Resources(settings=settings, admin_key_hash=key_hash(admin_key), pool=pool, nc=nc,
                                        js=nc.jetstream(), client=store.make_client(settings),
                                        presigner=store.make_presigner(settings))
        try:
            yield
        finally:
            connecting.cancel()
            for task in list(app.state.resources.background):
                task.cancel()
            await pool.close()
            await close(nc)

    app = FastAPI(title="Transcode Flow", version="0.2.0", lifespan=lifespan,
                  description="Jobs of the Transcode Flow video pipeline. Every /api/v1 route takes `X-API-Key`. "
                              "The `/api/v1/...` routes are the canonical ones (PRD §4); the routes tagged "
                              "`user guide` (`/api/...`, `/api-keys/...`) are the user guide's shorter names for "
                              "the same handlers.")
    errors.install(app, work_root(settings.worker.work_dir))
    for router in (library.router, validate.router, jobs.router, submit.router, admin.router, ops.router,
                   stream.router, jobs.streaming,
                   submit.guide, jobs.guide, admin.guide):
        app.include_router(router)
    ops.mount_metrics(app)
    mount_ui(app)
    app.add_middleware(JsonBodyGuard)
    examples.install(app)
    return app
