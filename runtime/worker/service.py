"""Run one service process: settings, logging, metrics server, signals -> graceful stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

from runtime.guard import refuse_placeholders
from runtime.observability.logs import setup_logging
from runtime.observability.metrics import serve_metrics
from runtime.settings import Settings, get_settings

log = logging.getLogger(__name__)

Serve = Callable[[Settings, asyncio.Event], Awaitable[None]]
#: After SIGTERM, how long a service may take to finish by itself before its work is cancelled.
STOP_GRACE_SECONDS = 3.0


def lower_priority(nice: int) -> None:
    """Lower this process's CPU priority by `nice` (nice(2), inherited by threads and
    children started afterwards). Each service runs in its own session, and with Linux's
    autogroup scheduling (sched(7), `/proc/sys/kernel/sched_autogroup_enabled`) CPU is
    shared between sessions regardless of the processes' nice values, so the session's
    autogroup gets the same nice (`/proc/self/autogroup`); best effort where it is absent."""
    os.nice(nice)
    with contextlib.suppress(OSError):
        Path("/proc/self/autogroup").write_text(str(nice))


def run_service(name: str, serve: Serve, background: bool = False) -> None:
    """Run `serve(settings, stop)` until it returns or SIGINT/SIGTERM sets `stop`; a
    `serve` still busy `STOP_GRACE_SECONDS` after the signal is cancelled, so SIGTERM
    stops a service promptly in every state. An exception of `serve` ends the process
    with it (the supervisor restarts the service). A `background` service (its outputs
    are not on the way to playback) lowers its CPU priority by `background_nice`
    (nice(2), inherited by its ffmpeg children), so the encode gets the cores first."""
    settings = get_settings()
    if background and settings.worker.background_nice:
        lower_priority(settings.worker.background_nice)
    setup_logging(name, settings.logs.level, settings.logs.format)
    refuse_placeholders(settings)
    serve_metrics(settings.metrics.port, settings.metrics.host)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        log.info("%s starting", name)
        serving = asyncio.ensure_future(serve(settings, stop))
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait([serving, stopping], return_when=asyncio.FIRST_COMPLETED)
        if not serving.done():
            # stopping: a service waiting on a server that is away (first connect, a publish
            # during a reconnect) gets STOP_GRACE_SECONDS, then its work is cancelled
            done, _ = await asyncio.wait([serving], timeout=STOP_GRACE_SECONDS)
            if not done:
                log.warning("%s did not stop within %.0fs; cancelling its work", name, STOP_GRACE_SECONDS)
                serving.cancel()
                await asyncio.wait([serving], timeout=1.0)
        stopping.cancel()
        if serving.done() and not serving.cancelled() and serving.exception() is not None:
            raise serving.exception()  # type: ignore[misc]
        log.info("%s stopped", name)

    run_bounded(main())


#: After `serve` returned, how long the tasks it left behind get to end once cancelled.
CLEANUP_SECONDS = 2.0


def run_bounded(main: Coroutine[Any, Any, None]) -> None:
    """`asyncio.run(main)`, but the clean-up after `main` is bounded: tasks still pending
    (a NATS client stuck reconnecting to a server that was killed, which does not end when
    cancelled) get `CLEANUP_SECONDS`, then the loop is closed with them. `asyncio.run`
    waits for them forever, and the process never exits."""
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(main)
    finally:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            _, stuck = loop.run_until_complete(asyncio.wait(pending, timeout=CLEANUP_SECONDS))
            if stuck:
                log.warning("%d tasks did not end when cancelled; closing the loop without them", len(stuck))
        with contextlib.suppress(Exception):
            loop.run_until_complete(asyncio.wait_for(loop.shutdown_asyncgens(), CLEANUP_SECONDS))
        loop.close()


def require(value: str | None, name: str) -> str:
    """`value`, or exit with a clear message that setting `name` is needed."""
    if not value:
        raise SystemExit(f"{name} is not set (tflow up sets it for the embedded stack)")
    return value
