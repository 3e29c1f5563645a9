"""The main loop of a service made of durable pull consumers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from minio import Minio
from nats.js import JetStreamContext

from tflow import store
from tflow.natsio import Cancellations, ConsumerLoop, apply_definitions, connect
from tflow.service import require
from tflow.settings import Settings

#: (stream, durable, handler factory) -> the handler object has `handle` and `on_failure`.
Consumer = tuple[str, str, Callable[[Settings, JetStreamContext, Minio], object]]


async def serve_consumers(service: str, consumers: list[Consumer], settings: Settings, stop: asyncio.Event) -> None:
    """Connect, apply definitions, and run each consumer until `stop`."""
    nc = await connect(require(settings.nats_url, "TFLOW_NATS_URL"), service)
    js = nc.jetstream()
    await apply_definitions(js)
    client = store.make_client(settings)
    cancellations = Cancellations()
    await cancellations.start(nc)
    loops = []
    for stream, durable, factory in consumers:
        h = factory(settings, js, client)
        loops.append(ConsumerLoop(js, stream, durable, service, h.handle, h.on_failure,
                                  fetch_timeout=settings.fetch_timeout_seconds,
                                  rebind_after_timeouts=settings.rebind_after_timeouts,
                                  cancellations=cancellations).run(stop))
    try:
        await asyncio.gather(*loops)
    finally:
        await nc.drain()
