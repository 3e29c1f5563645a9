"""The main loop of a declared service (`runtime.worker.declaration.Service`): connect,
then run a consumer loop and a dead-letter loop per declared consumer, and the service's
companions, until `stop`."""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from minio import Minio
from nats.js import JetStreamContext

from contracts import DLQ_STREAM
from runtime.jetstream.connection import close, connect
from runtime.jetstream.consumer import Cancellations, ConsumerLoop
from runtime.jetstream.delivery import Delivery
from runtime.settings import Settings, WorkerSettings
from runtime.storage import store
from runtime.storage.objects import Objects, S3Objects
from runtime.worker.deadletters import DeadLetterHandler, dead_durable
from runtime.worker.facts import Facts, JetStreamFacts
from runtime.worker.workdirs import sweep_workdirs

if TYPE_CHECKING:
    from runtime.worker.declaration import Service


def tasks_at_once(settings: WorkerSettings, cores: int | None = None) -> int:
    """`settings.concurrency`, with `auto` resolved for `cores` logical CPUs (default
    `os.cpu_count()`): one task per two cores, at least one. One ladder encode keeps about
    two cores busy (bench/throughput.py: the bare ladder's CPU over its wall, 1.9 on this
    2-core machine), so the PRD's 4-core/8-thread host runs four."""
    if settings.concurrency != "auto":
        return int(settings.concurrency)
    return max(1, (cores if cores is not None else os.cpu_count() or 1) // 2)


class Handler(Protocol):
    """What takes a consumer's messages: `handle` (returns: ack; raises `Permanent`: term;
    raises anything else: nak with backoff) and `on_failure` (the last delivery failed).
    `JobHandler` is one; ingest's is another."""

    async def handle(self, delivery: Delivery) -> None: ...

    async def on_failure(self, delivery: Delivery, error: BaseException) -> None: ...


#: What a declared consumer's handler is built by: `(settings, facts, objects) -> handler`.
HandlerFactory = Callable[[Settings, Facts, Objects], "Handler"]


@dataclass(frozen=True)
class Context:
    """What a running service shares with its companions: settings, the JetStream
    context, the facts publisher and the store client."""

    settings: Settings
    js: JetStreamContext
    facts: Facts
    client: Minio


#: Work a service runs beside its consumers until `stop` (ingest: the drop folder, the sweep).
Companion = Callable[[Context, asyncio.Event], Awaitable[None]]


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
                        concurrency=concurrency or tasks_at_once(settings.worker),
                        aging_seconds=settings.worker.priority_aging_seconds)


def dead_letter_loop(js: JetStreamContext, durable: str, service: str,
                     on_failure: Callable[[Delivery, BaseException], Awaitable[None]], facts: Facts,
                     settings: Settings) -> ConsumerLoop:
    """The loop that follows `durable`'s dead letters (`DLQ/dead_<durable>`) into `on_failure`."""
    dead = DeadLetterHandler(js, on_failure)
    return consumer_loop(js, DLQ_STREAM, dead_durable(durable), service, dead.handle, dead.on_failure, facts,
                         settings, concurrency=1)


async def serve_service(service: Service, settings: Settings, stop: asyncio.Event) -> None:
    """Connect as `service.name` and run, until `stop`, each declared consumer's loop and
    dead-letter loop and each companion (the streams exist: `tflow bootstrap` made them);
    first remove the job directories dead workers left (`sweep_workdirs`)."""
    sweep_workdirs(settings.worker.work_dir)
    nc = await connect(settings, service.name)
    js = nc.jetstream()
    facts = JetStreamFacts(js, service.name, patience=math.inf)  # rides out any outage of the bus
    client = store.make_client(settings)
    objects = S3Objects(client, settings.s3.bucket)
    cancellations = Cancellations()
    if service.cancels:
        await cancellations.start(nc)
    loops: list[Awaitable[None]] = []
    for consumer in service.consumers:
        handler = consumer.handler()(settings, facts, objects)
        loops.append(consumer_loop(js, consumer.stream, consumer.durable, service.name, handler.handle,
                                   handler.on_failure, facts, settings, cancellations).run(stop))
        loops.append(dead_letter_loop(js, consumer.durable, service.name, handler.on_failure, facts,
                                      settings).run(stop))
    context = Context(settings, js, facts, client)
    loops += [companion(context, stop) for companion in (service.companions() if service.companions else ())]
    try:
        await asyncio.gather(*loops)
    finally:
        await close(nc)
