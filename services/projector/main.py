"""projector process, and its maintenance command `rebuild`."""

from __future__ import annotations

import asyncio
import time

from readmodel.db import create_pool
from readmodel.jobs import count_jobs
from runtime.jetstream.connection import close, connect
from runtime.observability.logs import setup_logging
from runtime.settings import Settings, get_settings
from runtime.storage import store
from runtime.worker.facts import JetStreamFacts
from runtime.worker.service import require
from services.projector.cleanup import keep_clean
from services.projector.gauges import DEPENDENCY_TIMEOUT, keep_fresh, watch_dependencies
from services.projector.service import SERVICE, project, rebuild


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    """Fold JOBS into Postgres until `stop`."""
    nc = await connect(settings, SERVICE)
    js = nc.jetstream()
    pool = await create_pool(require(settings.database.url, "TFLOW_DATABASE_URL"))
    gauges = asyncio.create_task(keep_fresh(js, pool, stop, settings.worker.task_stall_seconds))
    facts = JetStreamFacts(js, SERVICE, patience=60.0)
    client = store.make_client(settings)
    cleaning = asyncio.create_task(keep_clean(settings, pool, client, facts, stop))
    watching = asyncio.create_task(watch_dependencies({
        # a request, not a flush: nats-py's read loop dies on the PONG of a flush that timed out
        "nats": lambda: nc.request("$JS.API.INFO", b"", timeout=DEPENDENCY_TIMEOUT),
        "postgres": lambda: pool.fetchval("SELECT 1"),
        "storage": lambda: asyncio.to_thread(client.bucket_exists, settings.s3.bucket)}, stop))
    try:
        await project(js, pool, stop)
    finally:
        for task in (gauges, cleaning, watching):
            task.cancel()
        await pool.close()
        await close(nc)


async def _rebuild(settings: Settings) -> int:
    nc = await connect(settings, "projector-rebuild")
    pool = await create_pool(require(settings.database.url, "TFLOW_DATABASE_URL"))
    try:
        started = time.monotonic()
        last = await rebuild(nc.jetstream(), pool)
        n = await count_jobs(pool)
        print(f"rebuilt {n} jobs from JOBS up to sequence {last} in {time.monotonic() - started:.2f}s")
    finally:
        await pool.close()
        await nc.close()
    return 0


def rebuild_main() -> int:
    """`tflow projector rebuild` / `python -m services.projector rebuild`: drop the read
    model and replay JOBS up to its current end. Returns the exit status."""
    settings = get_settings()
    setup_logging("rebuild", settings.logs.level, settings.logs.format)
    return asyncio.run(_rebuild(settings))
