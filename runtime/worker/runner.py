"""The main loop of a service made of durable pull consumers of job facts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from nats.js import JetStreamContext

from contracts import DLQ_STREAM
from runtime.jetstream.connection import close, connect
from runtime.jetstream.consumer import Cancellations, ConsumerLoop
from runtime.jetstream.delivery import Delivery
from runtime.settings import Settings
from runtime.storage import store
from runtime.storage.objects import Objects, S3Objects
from runtime.worker.deadletters import DeadLetterHandler, dead_durable
from runtime.worker.facts import Facts, JetStreamFacts
from runtime.worker.handler import JobHandler
from runtime.worker.workdirs import sweep_workdirs

#: (stream, durable, handler class): the handler is built from settings, facts and objects.
Consumer = tuple[str, str, Callable[[Settings, Facts, Objects], JobHandler]]


def consumer_loop(js: JetStreamContext, stream: str, durable: str, service: str,
                  handle: Callable[[Delivery], Awaitable[None]],
                  on_failure: Callable[[Delivery, BaseException], Awaitable[None]], facts: Facts, settings: Settings,
                  cancellations: Cancellations | None = None, concurrency: int | None = None) -> ConsumerLoop:
    """The loop of consumer group `durable` on `stream` with this process's settings:
    `TFLOW_WORKER_CONCURRENCY` handlers at once (unless `concurrency` is given), priority
    aging `TFLOW_PRIORITY_AGING_SECONDS`, fetch timeouts and retry delays."""
    return ConsumerLoop(js, stream, durable, service, handle, on_failure, facts,
                        fetch_timeout=settings.nats.fetch_timeout_seconds,
                        rebind_after_timeouts=settings.nats.rebind_after_timeouts,
                        cancellations=cancellations, retry_delays=settings.worker.retry_delays_seconds,
                        concurrency=concurrency or settings.worker.concurrency,
                        aging_seconds=settings.worker.priority_aging_seconds)


def dead_letter_loop(js: JetStreamContext, durable: str, service: str,
                     on_failure: Callable[[Delivery, BaseException], Awaitable[None]], facts: Facts,
                     settings: Settings) -> ConsumerLoop:
    """The loop that follows `durable`'s dead letters (`DLQ/dead_<durable>`) into `on_failure`."""
    dead = DeadLetterHandler(js, on_failure)
    return consumer_loop(js, DLQ_STREAM, dead_durable(durable), service, dead.handle, dead.on_failure, facts,
                         settings, concurrency=1)


async def serve_consumers(service: str, consumers: list[Consumer], settings: Settings, stop: asyncio.Event) -> None:
    """Connect and run each consumer until `stop` (the streams exist: `tflow bootstrap` made
    them); first remove the job directories dead workers left (`sweep_workdirs`)."""
    sweep_workdirs(settings.worker.work_dir)
    nc = await connect(settings, service)
    js = nc.jetstream()
    facts = JetStreamFacts(js, service)
    objects = S3Objects(store.make_client(settings), settings.s3.bucket)
    cancellations = Cancellations()
    await cancellations.start(nc)
    loops = []
    for stream, durable, factory in consumers:
        handler = factory(settings, facts, objects)
        loops.append(consumer_loop(js, stream, durable, service, handler.handle, handler.on_failure, facts,
                                   settings, cancellations).run(stop))
        loops.append(dead_letter_loop(js, durable, service, handler.on_failure, facts, settings).run(stop))
    try:
        await asyncio.gather(*loops)
    finally:
        await close(nc)
