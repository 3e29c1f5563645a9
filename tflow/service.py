"""Run one service process: settings, logging, metrics server, signals -> graceful stop."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable

from tflow.logs import setup_logging
from tflow.metrics import serve_metrics
from tflow.settings import Settings, get_settings

log = logging.getLogger(__name__)

Serve = Callable[[Settings, asyncio.Event], Awaitable[None]]


def run_service(name: str, serve: Serve) -> None:
    """Run `serve(settings, stop)` until it returns or SIGINT/SIGTERM sets `stop`."""
    settings = get_settings()
    setup_logging(name, settings.log_level)
    serve_metrics(settings.metrics_port)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        log.info("%s starting", name)
        await serve(settings, stop)
        log.info("%s stopped", name)

    asyncio.run(main())


def require(value: str | None, name: str) -> str:
    """`value`, or exit with a clear message that setting `name` is needed."""
    if not value:
        raise SystemExit(f"{name} is not set (tflow up sets it for the embedded stack)")
    return value
