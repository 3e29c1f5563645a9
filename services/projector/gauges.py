"""The system's gauges, exported by the projector (the one service that sees the whole
read model and, with the `monitor` NATS role, every consumer): PRD §5.1 jobs by status
and queue size, stored bytes, per-durable consumer lag, the read model's own lag, and
stalled tasks. Refreshed every `GAUGE_SECONDS`; a refresh that fails (a server away)
keeps the last values and is tried again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import asyncpg
from nats.js import JetStreamContext
from prometheus_client import REGISTRY, Gauge
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from readmodel import jobs
from readmodel import projection as pstore
from runtime.jetstream.definitions import load_consumer_configs
from runtime.worker.facts import JOBS_STREAM

log = logging.getLogger(__name__)
#: Prometheus scrapes every 15 s (deploy/prometheus/prometheus.yml): a refresh more often is never read.
GAUGE_SECONDS = 15.0
#: Statuses of jobs accepted but not finished (PRD `transcode_jobs_queue_size`).
QUEUED = ("pending", "validating", "processing")

QUEUE_SIZE = Gauge("transcode_jobs_queue_size", "Jobs accepted and not finished (pending, validating, processing).")
STORED = Gauge("tflow_storage_bytes", "Bytes in the bucket by kind: input (sources) and output (every finished "
               "output, HLS segments included).", ["kind"])
PENDING = Gauge("transcode_consumer_pending_messages", "Messages a durable consumer has not delivered yet "
                "(its backlog).", ["stream", "consumer"])
ACK_PENDING = Gauge("transcode_consumer_ack_pending", "Messages delivered and not acknowledged yet (in flight).",
                    ["stream", "consumer"])
WAITING = Gauge("transcode_consumer_waiting_pulls", "Pull requests waiting on a durable (idle replicas).",
                ["stream", "consumer"])
REDELIVERED = Gauge("transcode_consumer_redelivered", "Messages delivered more than once and not acknowledged yet.",
                    ["stream", "consumer"])
PROJECTOR_LAG = Gauge("tflow_projector_lag_facts", "JOBS facts not yet folded into the read model.")
STREAM_MESSAGES = Gauge("tflow_stream_messages", "Messages in a JetStream stream.", ["stream"])
DEPENDENCY_UP = Gauge("tflow_dependency_up", "1 while a server answers the projector within DEPENDENCY_TIMEOUT "
                      "seconds (nats, postgres, storage), else 0: the NatsDown / PostgresDown alerts.", ["dependency"])
#: Seconds between two looks at the servers, and how long each may take to answer.
DEPENDENCY_SECONDS = 5.0
DEPENDENCY_TIMEOUT = 3.0
STALLED = Gauge("transcode_tasks_stalled", "Tasks processing whose last fact is older than task_stall_seconds.")


class JobsByStatus(Collector):
    """`transcode_jobs_total{status}` (PRD §5.1): jobs in the read model by status, as a
    counter family (it only falls when jobs are deleted)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily("transcode_jobs", "Jobs by status (read model).", labels=["status"])
        for status, n in sorted(self.counts.items()):
            family.add_metric([status], n)
        yield family


JOBS_BY_STATUS = JobsByStatus()
REGISTRY.register(JOBS_BY_STATUS)


async def refresh(js: JetStreamContext, pool: asyncpg.Pool, stall_seconds: float) -> None:
    """Read every figure once and set the gauges."""
    by_status, row = await jobs.fetch_stats(pool, owner=None)
    JOBS_BY_STATUS.counts = dict(by_status)
    QUEUE_SIZE.set(sum(by_status.get(s, 0) for s in QUEUED))
    STORED.labels("input").set(int(row["source_bytes"]))
    STORED.labels("output").set(int(row["output_bytes"]))
    STALLED.set(await jobs.count_stalled_tasks(pool, quiet_seconds=stall_seconds))
    consumers = list(load_consumer_configs())
    infos: list[Any] = await asyncio.gather(*(js.consumer_info(s, c.durable_name or "") for s, c in consumers),
                                            return_exceptions=True)
    for (stream, cfg), ci in zip(consumers, infos, strict=True):
        if isinstance(ci, BaseException):
            continue
        labels = (stream, cfg.durable_name or "")
        PENDING.labels(*labels).set(ci.num_pending or 0)
        ACK_PENDING.labels(*labels).set(ci.num_ack_pending or 0)
        WAITING.labels(*labels).set(ci.num_waiting or 0)
        REDELIVERED.labels(*labels).set(ci.num_redelivered or 0)
    for stream in {s for s, _ in consumers}:
        info = await js.stream_info(stream)
        STREAM_MESSAGES.labels(stream).set(info.state.messages)
        if stream == JOBS_STREAM:
            PROJECTOR_LAG.set(max(0, info.state.last_seq - await pstore.read_checkpoint(pool)))


async def keep_fresh(js: JetStreamContext, pool: asyncpg.Pool, stop: asyncio.Event, stall_seconds: float) -> None:
    """`refresh` every `GAUGE_SECONDS` until `stop`."""
    while not stop.is_set():
        try:
            await refresh(js, pool, stall_seconds)
        except Exception as e:  # noqa: BLE001 - a server away: keep the last values, try again
            log.debug("gauges not refreshed: %s", e)
        try:
            await asyncio.wait_for(stop.wait(), GAUGE_SECONDS)
        except TimeoutError:
            pass


async def watch_dependencies(checks: dict[str, Callable[[], Awaitable[object]]], stop: asyncio.Event) -> None:
    """Every `DEPENDENCY_SECONDS` until `stop`, run each of `checks` (a server's cheapest
    round trip) with `DEPENDENCY_TIMEOUT`: `tflow_dependency_up{dependency}` is 1 when it
    answered, 0 when it raised or did not answer (stalled, restarting, gone)."""
    up: dict[str, bool] = {}
    while not stop.is_set():
        async def one(name: str, check: Callable[[], Awaitable[object]]) -> None:
            try:
                await asyncio.wait_for(check(), DEPENDENCY_TIMEOUT)
                if up.get(name) is False:
                    log.info("%s answers the projector again", name)
                up[name] = True
            except Exception as e:  # noqa: BLE001 - any failure is "down"
                if up.get(name, True):
                    log.warning("%s does not answer the projector: %s", name, type(e).__name__)
                up[name] = False
            DEPENDENCY_UP.labels(name).set(int(up[name]))
        await asyncio.gather(*(one(n, c) for n, c in checks.items()))
        try:
            await asyncio.wait_for(stop.wait(), DEPENDENCY_SECONDS)
        except TimeoutError:
            pass
