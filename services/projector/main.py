"""projector process."""

from __future__ import annotations

import asyncio

from services.projector.service import SERVICE, project
from tflow.db import create_pool
from tflow.natsio import apply_definitions, connect
from tflow.service import require, run_service
from tflow.settings import Settings


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    """Fold JOBS into Postgres until `stop`."""
    nc = await connect(require(settings.nats_url, "TFLOW_NATS_URL"), SERVICE)
    js = nc.jetstream()
    await apply_definitions(js)
    pool = await create_pool(require(settings.database_url, "TFLOW_DATABASE_URL"))
    try:
        await project(js, pool, stop)
    finally:
        await pool.close()
        await nc.drain()


def main() -> None:
    """Entry point of `tflow run projector` / `python -m services.projector`."""
    run_service(SERVICE, serve)
