"""ingest process: the MINIO-stream consumer, the drop folder and the reconcile sweep."""

from __future__ import annotations

import asyncio

from runtime.jetstream.connection import close, connect
from runtime.settings import Settings
from runtime.storage import store
from runtime.storage.objects import S3Objects
from runtime.worker.facts import JetStreamFacts
from runtime.worker.runner import consumer_loop, dead_letter_loop
from runtime.worker.service import run_service
from services.ingest.handler import SERVICE, Ingest
from services.ingest.inbox import DropFolder
from services.ingest.sweep import run_sweeps


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    """Run until `stop`: consumer `MINIO/ingest`, drop folder, sweep."""
    nc = await connect(settings, SERVICE)
    js = nc.jetstream()
    client = store.make_client(settings)
    await asyncio.to_thread(store.ensure_bucket, client, settings.s3.bucket)
    facts = JetStreamFacts(js, SERVICE)
    ingest = Ingest(settings, facts, S3Objects(client, settings.s3.bucket))
    loop = consumer_loop(js, "MINIO", "ingest", SERVICE, ingest.handle, ingest.on_failure, facts, settings)
    try:
        await asyncio.gather(
            loop.run(stop),
            dead_letter_loop(js, "ingest", SERVICE, ingest.on_failure, facts, settings).run(stop),
            DropFolder(settings, js, facts, client).run(stop),
            run_sweeps(settings, js, facts, client, stop),
        )
    finally:
        await close(nc)


def main() -> None:
    """Entry point of `tflow run ingest` / `python -m services.ingest`."""
    run_service(SERVICE, serve)
