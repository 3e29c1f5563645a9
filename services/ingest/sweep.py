"""The reconcile sweep: objects in `raw/` with no job yet are announced (origin `sweep`).

The backstop of the bucket events: MinIO publishes each event straight to NATS (no queue
directory, `ops.minio`), so an event of an object written while NATS is down or stalled is
lost, and an S3 store without an event rule (AWS without one, any other store) sends none.
"No job yet" is read from the JOBS stream itself (no `received` fact for the job id), so
ingest needs no database.

Each pass lists `raw/` (S3 has no "modified since" filter) but looks up only the objects
`due`: all of them on the first pass, then those modified since the previous pass's cutoff
(less `MARGIN`). Objects younger than `sweep_grace_seconds` wait for the next pass: their
own event is on its way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from minio import Minio
from nats.js import JetStreamContext

from contracts import ObjectRef, job_id_for, layout
from runtime.jetstream.connection import announce_object
from runtime.settings import Settings
from runtime.storage import store
from runtime.worker.facts import Facts
from runtime.worker.runner import Context

log = logging.getLogger(__name__)
#: How far before the previous cutoff a pass looks again (seconds): the store's clock and
#: ours may differ, and a listing may lag a write that just finished.
MARGIN = 60.0


def due(listing: Iterable[tuple[ObjectRef, datetime | None]], since: datetime | None, cutoff: datetime
        ) -> list[ObjectRef]:
    """The objects of `listing` (`(ref, last_modified)`) a pass checks: modified before
    `cutoff` and, unless `since` is None (the first pass: all), at or after `since - MARGIN`.
    An object without a modification time is always checked."""
    low = since - timedelta(seconds=MARGIN) if since is not None else None
    return [ref for ref, modified in listing
            if modified is None or (modified < cutoff and (low is None or modified >= low))]


async def sweep_once(settings: Settings, js: JetStreamContext, facts: Facts, client: Minio,
                     since: datetime | None = None) -> tuple[int, datetime]:
    """One pass over `raw/`, checking the objects `due` since `since` (None: all). Returns
    `(objects announced, this pass's cutoff)`: the `since` of the next pass."""
    cutoff = datetime.now(UTC) - timedelta(seconds=settings.intake.sweep_grace_seconds)
    listing = await asyncio.to_thread(lambda: list(store.listing(client, settings.s3.bucket, layout.RAW_PREFIX)))
    announced = 0
    for ref in due(listing, since, cutoff):
        if await facts.last(job_id_for(ref), "received") is None:
            await announce_object(js, ref, "sweep")
            announced += 1
    if announced:
        log.info("sweep: announced %d of %d objects in %s", announced, len(listing), layout.RAW_PREFIX)
    return announced, cutoff


async def run_sweeps(settings: Settings, js: JetStreamContext, facts: Facts, client: Minio,
                     stop: asyncio.Event) -> None:
    """Sweep at start and every `sweep_interval_seconds` until `stop` (0 = never). A failed
    pass moves no cutoff: the next one covers its objects too."""
    if settings.intake.sweep_interval_seconds <= 0:
        return
    since: datetime | None = None
    while not stop.is_set():
        try:
            _, since = await sweep_once(settings, js, facts, client, since)
        except Exception as e:  # noqa: BLE001 - store or NATS away: try again next period
            log.warning("sweep failed (next in %.0fs): %s", settings.intake.sweep_interval_seconds, e)
        try:
            await asyncio.wait_for(stop.wait(), settings.intake.sweep_interval_seconds)
        except TimeoutError:
            pass


async def sweep(context: Context, stop: asyncio.Event) -> None:
    """Ingest's companion (`services.ingest.SERVICE`): the reconcile sweeps until `stop`."""
    await run_sweeps(context.settings, context.js, context.facts, context.client, stop)
