"""notifier process: the webhook outbox, polled every second."""

from __future__ import annotations

import asyncio
import logging

import httpx

from readmodel.db import UNAVAILABLE, create_pool
from runtime.settings import Settings
from runtime.worker.service import require
from services.notifier.service import deliver_due

log = logging.getLogger(__name__)


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    """Poll for due deliveries every second until `stop`."""
    pool = await create_pool(require(settings.database.url, "TFLOW_DATABASE_URL"))
    async with httpx.AsyncClient(timeout=settings.webhooks.timeout_seconds, follow_redirects=False) as http:
        try:
            while not stop.is_set():
                try:
                    n = await deliver_due(pool, settings, http)
                except UNAVAILABLE as e:
                    log.warning("database unavailable: %s", e)
                    n = 0
                if not n:
                    try:
                        await asyncio.wait_for(stop.wait(), 1.0)
                    except TimeoutError:
                        pass
        finally:
            await pool.close()
