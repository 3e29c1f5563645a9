"""The reconcile sweep: objects in `raw/` with no job yet are announced (origin `sweep`).

Catches objects written straight into an S3 store without notifications (SeaweedFS,
AWS without an event rule) and notifications lost while NATS was down. "No job yet"
is read from the JOBS stream itself (no `received` fact for the job id), so ingest
needs no database.
"""

from __future__ import annotations

import asyncio
import logging

from minio import Minio
from nats.js import JetStreamContext

from contracts import job_id_for, layout
from runtime.jetstream.connection import announce_object
from runtime.settings import Settings
from runtime.storage import store
from runtime.worker.facts import Facts
from runtime.worker.runner import Context

log = logging.getLogger(__name__)


async def sweep_once(settings: Settings, js: JetStreamContext, facts: Facts, client: Minio) -> int:
    """One pass over `raw/`; returns how many objects were announced."""
    refs = await asyncio.to_thread(lambda: list(store.list_objects(client, settings.s3.bucket, layout.RAW_PREFIX)))
    announced = 0
    for ref in refs:
        if await facts.last(job_id_for(ref), "received") is None:
            await announce_object(js, ref, "sweep")
            announced += 1
    if announced:
        log.info("sweep: announced %d of %d objects in %s", announced, len(refs), layout.RAW_PREFIX)
    return announced


async def run_sweeps(settings: Settings, js: JetStreamContext, facts: Facts, client: Minio,
                     stop: asyncio.Event) -> None:
    """Sweep at start and every `sweep_interval_seconds` until `stop` (0 = never)."""
    if settings.intake.sweep_interval_seconds <= 0:
        return
    while not stop.is_set():
        try:
            await sweep_once(settings, js, facts, client)
        except Exception as e:  # noqa: BLE001 - store or NATS away: try again next period
            log.warning("sweep failed (next in %.0fs): %s", settings.intake.sweep_interval_seconds, e)
        try:
            await asyncio.wait_for(stop.wait(), settings.intake.sweep_interval_seconds)
        except TimeoutError:
            pass


async def sweep(context: Context, stop: asyncio.Event) -> None:
    """Ingest's companion (`services.ingest.SERVICE`): the reconcile sweeps until `stop`."""
    await run_sweeps(context.settings, context.js, context.facts, context.client, stop)
