"""Operations routes: health (overall and per component), stats, Prometheus /metrics."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

from readmodel import jobs
from readmodel import projection as pstore
from readmodel.db import ping
from readmodel.rows import JOB_STATUSES
from runtime.jetstream.definitions import consumer_groups, load_consumer_configs
from runtime.storage.space import human, observe, work_root
from runtime.worker.facts import JOBS_STREAM
from runtime.worker.failures import DISK_FULL
from services.api.auth import Reader
from services.api.deps import PoolDep, Resources, ResourcesDep
from services.api.errors import ApiError
from services.api.metrics import LATENCY, REQUESTS
from services.api.models import ComponentHealth, DetailedHealth, Health, Stats

router = APIRouter(tags=["health"])


async def check_db(r: Resources) -> dict[str, Any]:
    """The database answers; its round trip in ms."""
    return {"status": "ok", "latency_ms": await ping(r.pool)}


async def check_nats(r: Resources) -> dict[str, Any]:
    """Connected to NATS, and the JOBS stream answers; its message count."""
    if not r.nc.is_connected:
        raise ConnectionError("not connected to NATS")
    info = await r.js.stream_info(JOBS_STREAM)
    return {"status": "ok", "jobs_stream_messages": info.state.messages}


async def check_storage(r: Resources) -> dict[str, Any]:
    """The bucket exists; the store's latency in ms."""
    bucket = r.settings.s3.bucket
    t0 = time.perf_counter()
    if not await asyncio.to_thread(r.client.bucket_exists, bucket):
        raise ConnectionError(f"bucket {bucket} does not exist")
    return {"status": "ok", "bucket": bucket, "latency_ms": round((time.perf_counter() - t0) * 1000, 2)}


async def check_workers(r: Resources) -> dict[str, Any]:
    """Per consumer definition (a banded or partitioned group summed over its consumers,
    `runtime.jetstream.definitions`): pull requests waiting (idle replicas asking for work: a banded
    worker keeps one on its top band), messages in flight and backlog, and how many
    consumers it is. A service is `alive` while it has a pull request waiting or a message
    in flight."""
    out = {}
    for group in consumer_groups():
        infos = await asyncio.gather(*(r.js.consumer_info(group.stream, name) for name in group.names))
        waiting = sum(ci.num_waiting or 0 for ci in infos)
        in_flight = sum(ci.num_ack_pending or 0 for ci in infos)
        out[group.durable] = {"stream": group.stream, "pull_requests_waiting": waiting, "in_flight": in_flight,
                              "backlog": sum(ci.num_pending or 0 for ci in infos), "consumers": len(infos),
                              "alive": bool(waiting or in_flight)}
    projector = await run_check("projector", r)
    healthy = all(w["alive"] for w in out.values()) and projector["status"] == "ok"
    return {"status": "ok" if healthy else "degraded", "consumers": out, "projector": projector}


async def check_projector(r: Resources) -> dict[str, Any]:
    """The read model's lag: JOBS stream last sequence vs the projector's checkpoint, how
    long ago the checkpoint moved, and how many facts were set aside. An error when facts
    wait and the checkpoint has not moved for `projector_stall_seconds` (30 s): the
    projector is down or crash-looping."""
    info = await r.js.stream_info(JOBS_STREAM)
    checkpoint, age = await pstore.checkpoint_age(r.pool)
    set_aside = await pstore.failure_count(r.pool)
    lag = max(0, info.state.last_seq - checkpoint)
    out = {"stream_last_seq": info.state.last_seq, "checkpoint": checkpoint, "lag": lag,
           "checkpoint_age_seconds": round(age, 1), "set_aside": set_aside}
    if lag and age > r.settings.api.projector_stall_seconds:
        raise ProjectorStalled(f"{lag} facts wait and the checkpoint has not moved for {age:.0f}s", out)
    return {"status": "degraded" if set_aside else "ok", **out}


async def check_disk(r: Resources) -> dict[str, Any]:
    """Free space: the upload spool's (`degraded` below `TFLOW_MIN_FREE_BYTES`) and the
    tasks waiting on a `disk_full` retry (`degraded` while there are any, with their
    reasons: which worker's disk, how much is free)."""
    spool = work_root(r.settings.worker.work_dir)
    free = await asyncio.to_thread(observe, "api", spool)
    waiting = await jobs.fetch_tasks_waiting_on(r.pool, code=DISK_FULL)
    reasons = [f"{w['worker'] or 'a worker'}: {w['error_message']}" for w in waiting]
    need = r.settings.upkeep.min_free_bytes
    if free < need:
        reasons.insert(0, f"api: {human(free)} free on the upload spool, below {human(need)}")
    return {"status": "degraded" if reasons else "ok", "spool_free_bytes": free,
            "tasks_waiting_for_space": len(waiting), "reasons": reasons}


class ProjectorStalled(RuntimeError):
    """Facts wait and the projector's checkpoint does not move; `details` has the figures."""

    def __init__(self, message: str, details: dict[str, Any]):
        super().__init__(message)
        self.details = details


CHECKS: dict[str, Callable[[Resources], Awaitable[dict[str, Any]]]] = {
    "db": check_db, "nats": check_nats, "storage": check_storage, "workers": check_workers,
    "projector": check_projector, "disk": check_disk}


async def run_check(name: str, r: Resources) -> dict[str, Any]:
    """One component check with a 5 s limit; a failure is `{"status": "error", "error"}`."""
    try:
        return await asyncio.wait_for(CHECKS[name](r), 5)
    except ProjectorStalled as e:
        return {"status": "error", "error": str(e), **e.details}
    except Exception as e:  # noqa: BLE001 - any failure is the component's state
        return {"status": "error", "error": f"{type(e).__name__}: {e}"}


async def _timed(name: str, r: Resources) -> dict[str, Any]:
    t0 = time.perf_counter()
    result = await run_check(name, r)
    return {"latency_ms": round((time.perf_counter() - t0) * 1000, 2), **result}


def overall(states: list[str]) -> str:
    """`unhealthy` if a component is in error, `degraded` if one is degraded, else `healthy`."""
    return "unhealthy" if "error" in states else "degraded" if "degraded" in states else "healthy"


@router.get("/health", summary="Health (PRD §9.3): database, NATS, storage, workers, projector; 503 when unhealthy",
            response_class=Response,
            responses={200: {"model": Health}, 503: {"model": Health, "description": "A component is down"}})
async def health(r: ResourcesDep) -> Response:
    names = ("db", "nats", "storage", "workers", "disk", "projector")
    results = dict(zip(names, await asyncio.gather(*(run_check(n, r) for n in names)), strict=True))
    # the workers' check reports the projector too; its own check (run beside the others, so
    # a stalled server costs one 5 s limit, not two in a row) stands in when that one failed early
    results["projector"] = results["workers"].get("projector") or results["projector"]
    consumers = results["workers"].get("consumers", {})
    services = {"database" if n == "db" else n: "up" if results[n]["status"] != "error" else "down"
                for n in ("db", "nats", "storage", "projector")}
    services["workers"] = f"{sum(c['alive'] for c in consumers.values())}/{len(consumers)} active"
    services["disk"] = {"ok": "ok", "degraded": "full"}.get(results["disk"]["status"], "unknown")
    # workers without a pull request waiting, or a full disk, degrade the stack; they do not make it unhealthy
    status = overall([results[n]["status"] for n in ("db", "nats", "storage", "projector")]
                     + ["degraded" if results[n]["status"] != "ok" else "ok" for n in ("workers", "disk")])
    doc = Health(status=status, services=services, timestamp=datetime.now(UTC), projector=results["projector"],
                 reasons=results["disk"].get("reasons", []))
    return Response(doc.model_dump_json(), status_code=503 if status == "unhealthy" else 200,
                    media_type="application/json")


@router.get("/health/detailed", summary="Every component with its state and latency (user guide)",
            response_class=Response,
            responses={200: {"model": DetailedHealth},
                       503: {"model": DetailedHealth, "description": "A component is down"}})
async def health_detailed(r: ResourcesDep) -> Response:
    results = dict(zip(CHECKS, await asyncio.gather(*(_timed(n, r) for n in CHECKS)), strict=True))
    status = overall([v["status"] for v in results.values()])
    doc = DetailedHealth(status=status, timestamp=datetime.now(UTC),
                         components={n: ComponentHealth(**v) for n, v in results.items()})
    return Response(doc.model_dump_json(), status_code=503 if status == "unhealthy" else 200,
                    media_type="application/json")


@router.get("/api/v1/health/{component}", summary="Health of one component: db, nats, storage or workers")
async def health_component(component: str, _: Reader, r: ResourcesDep) -> ComponentHealth:
    if component not in CHECKS:
        raise ApiError(404, "not_found", f"unknown component {component!r}; one of {sorted(CHECKS)}")
    result = await run_check(component, r)
    if result["status"] == "error":
        raise ApiError(503, "unavailable", f"{component} is unavailable", result)
    return ComponentHealth(**result)


async def worker_utilization(r: Resources) -> float | None:
    """Busy share of the workers connected now, percent: messages in flight over in flight
    plus pull requests waiting (an idle worker waits with one), over every worker
    consumer. None when no worker is connected."""
    infos = await asyncio.gather(*(r.js.consumer_info(stream, cfg.durable_name or "")
                                   for stream, cfg in load_consumer_configs() if stream == JOBS_STREAM))
    busy = sum(ci.num_ack_pending or 0 for ci in infos)
    idle = sum(ci.num_waiting or 0 for ci in infos)
    return round(100 * busy / (busy + idle), 1) if busy + idle else None


@router.get("/api/v1/stats", tags=["jobs"], summary="Job counts, bytes and processing times (PRD §4; the caller's "
            "jobs, every job for admins)")
async def stats(who: Reader, pool: PoolDep, r: ResourcesDep) -> Stats:
    by_status, row = await jobs.fetch_stats(pool, owner=who.owner)
    try:
        utilization = await asyncio.wait_for(worker_utilization(r), 5)
    except Exception:  # noqa: BLE001 - NATS away: the figures from Postgres still answer
        utilization = None
    counts = {s: by_status.get(s, 0) for s in JOB_STATUSES}
    avg = _round(row["avg_processing_seconds"])
    return Stats(total_jobs=sum(v for s, v in counts.items() if s != "deleted"),
                 **{s: counts[s] for s in JOB_STATUSES if s != "deleted"},
                 total_input_tb=round(int(row["source_bytes"]) / 1e12, 6),
                 total_output_tb=round(int(row["output_bytes"]) / 1e12, 6),
                 avg_processing_time_minutes=round(avg / 60, 2) if avg is not None else None,
                 worker_utilization_percent=utilization, by_status=counts,
                 last_24h={"created": row["created_24h"], "completed": row["completed_24h"],
                           "failed": row["failed_24h"]},
                 processing_seconds={"average": avg, "p95": _round(row["p95_processing_seconds"])},
                 source={"bytes": int(row["source_bytes"]), "seconds": round(float(row["source_seconds"]), 3)},
                 total_output_bytes=int(row["output_bytes"]))


def _round(v: Any) -> float | None:
    return round(float(v), 3) if v is not None else None


class RequestMiddleware:
    """Pure ASGI middleware (BaseHTTPMiddleware costs a task per request): adds the
    caller's `X-RateLimit-*` headers (set by auth in `scope["state"]`) to the response,
    and records per-route request counts and latency."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0, status = time.perf_counter(), 500

        async def send_with_headers(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                extra = scope.get("state", {}).get("rate_headers")
                if extra:
                    message["headers"] = [*message.get("headers", []),
                                          *((k.lower().encode(), v.encode()) for k, v in extra.items())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            REQUESTS.labels(path, str(status)).inc()
            LATENCY.labels(path).observe(time.perf_counter() - t0)


def mount_metrics(app: FastAPI) -> None:
    """`/metrics` (Prometheus text format) and per-route request metrics."""
    @app.get("/metrics", tags=["health"], summary="Prometheus metrics (text exposition format)",
             response_class=PlainTextResponse)
    async def metrics() -> PlainTextResponse:
        registry = None
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # several uvicorn workers: merge their files
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        text = generate_latest(registry) if registry is not None else generate_latest()
        return PlainTextResponse(text.decode(), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(RequestMiddleware)
