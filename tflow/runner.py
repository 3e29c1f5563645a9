"""The main loop of a service made of durable pull consumers of job facts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from nats.js import JetStreamContext

from contracts import DLQ_STREAM
from tflow import store
from tflow.deadletters import DeadLetterHandler, dead_durable
from tflow.facts import Facts, JetStreamFacts
from tflow.natsio import Cancellations, ConsumerLoop, close, connect
from tflow.objects import Objects, S3Objects
from tflow.settings import Settings
from tflow.worker import Delivery, JobHandler, sweep_workdirs

#: (stream, durable, handler class): the handler is built from settings, facts and objects.
Consumer = tuple[str, str, Callable[[Settings, Facts, Objects], JobHandler]]


def dead_letter_loop(js: JetStreamContext, durable: str, service: str,
                     on_failure: Callable[[Delivery, BaseException], Awaitable[None]], facts: Facts,
                     settings: Settings) -> ConsumerLoop:
    """The loop that follows `durable`'s dead letters (`DLQ/dead_<durable>`) into `on_failure`."""
    dead = DeadLetterHandler(js, on_failure)
    return ConsumerLoop(js, DLQ_STREAM, dead_durable(durable), service, dead.handle, dead.on_failure, facts,
                        fetch_timeout=settings.fetch_timeout_seconds,
                        rebind_after_timeouts=settings.rebind_after_timeouts,
                        retry_delays=settings.retry_delays_seconds)


async def serve_consumers(service: str, consumers: list[Consumer], settings: Settings, stop: asyncio.Event) -> None:
    """Connect and run each consumer until `stop` (the streams exist: `tflow bootstrap` made
    them); first remove the job directories dead workers left (`sweep_workdirs`)."""
    sweep_workdirs(settings.work_dir)
    nc = await connect(settings, service)
    js = nc.jetstream()
    facts = JetStreamFacts(js, service)
    objects = S3Objects(store.make_client(settings), settings.bucket)
    cancellations = Cancellations()
    await cancellations.start(nc)
    loops = []
    for stream, durable, factory in consumers:
        handler = factory(settings, facts, objects)
        loops.append(ConsumerLoop(js, stream, durable, service, handler.handle, handler.on_failure, facts,
                                  fetch_timeout=settings.fetch_timeout_seconds,
                                  rebind_after_timeouts=settings.rebind_after_timeouts,
                                  cancellations=cancellations, retry_delays=settings.retry_delays_seconds
                                  ).run(stop))
        loops.append(dead_letter_loop(js, durable, service, handler.on_failure, facts, settings).run(stop))
    try:
        await asyncio.gather(*loops)
    finally:
        await close(nc)
