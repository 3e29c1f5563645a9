"""Operations routes: health (overall and per component), stats, Prometheus /metrics."""

from __future__ import annotations

import asyncio
import os
import time

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

from services.api.auth import Reader
from services.api.errors import ApiError
from tflow.natsio import load_consumer_configs

router = APIRouter(tags=["health"])
REQUESTS = Counter("tflow_api_requests_total", "API requests by route and status.", ["route", "status"])
LATENCY = Histogram("tflow_api_request_seconds", "API request latency by route.", ["route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 10))


async def check_db(request: Request) -> dict:
    t0 = time.perf_counter()
    await request.app.state.pool.fetchval("SELECT 1")
    return {"status": "ok", "latency_ms": round((time.perf_counter() - t0) * 1000, 2)}


async def check_nats(request: Request) -> dict:
    nc = request.app.state.nc
    if not nc.is_connected:
        raise ConnectionError("not connected to NATS")
    info = await request.app.state.js.stream_info("JOBS")
    return {"status": "ok", "server": nc.connected_url.netloc if nc.connected_url else None,
            "jobs_stream_messages": info.state.messages}


async def check_storage(request: Request) -> dict:
    s = request.app.state.settings
    t0 = time.perf_counter()
    ok = await asyncio.to_thread(request.app.state.client.bucket_exists, s.bucket)
    if not ok:
        raise ConnectionError(f"bucket {s.bucket} does not exist")
    return {"status": "ok", "bucket": s.bucket, "latency_ms": round((time.perf_counter() - t0) * 1000, 2)}


async def check_workers(request: Request) -> dict:
    """Per durable consumer: pull requests waiting (idle replicas asking for work), messages
    in flight and backlog. A service is `alive` while it has a pull request waiting or a
    message in flight."""
    js = request.app.state.js
    out = {}
    for stream, cfg in load_consumer_configs():
        ci = await js.consumer_info(stream, cfg.durable_name)
        out[cfg.durable_name] = {"stream": stream, "pull_requests_waiting": ci.num_waiting or 0,
                                 "in_flight": ci.num_ack_pending or 0, "backlog": ci.num_pending or 0,
                                 "alive": bool(ci.num_waiting or ci.num_ack_pending)}
    return {"status": "ok" if all(w["alive"] for w in out.values()) else "degraded", "consumers": out}


CHECKS = {"db": check_db, "nats": check_nats, "storage": check_storage, "workers": check_workers}


async def run_check(name: str, request: Request) -> dict:
    try:
        return await asyncio.wait_for(CHECKS[name](request), 5)
    except Exception as e:
        return {"status": "error", "error": f"{type(e).__name__}: {e}"}


@router.get("/health", summary="Liveness (cheap): database answers, NATS connected; details under "
            "/api/v1/health/{component}")
async def health(request: Request):
    try:
        await asyncio.wait_for(request.app.state.pool.fetchval("SELECT 1"), 2)
    except Exception as e:
        raise ApiError(503, "unavailable", f"database unreachable: {e}") from e
    nats_ok = request.app.state.nc.is_connected
    if not nats_ok:
        raise ApiError(503, "unavailable", "not connected to NATS")
    return {"status": "ok", "database": "ok", "nats": "ok"}


@router.get("/api/v1/health/{component}", summary="Health of one component: db, nats, storage or workers")
async def health_component(component: str, request: Request, _: Reader) -> dict:
    if component not in CHECKS:
        raise ApiError(404, "not_found", f"unknown component {component!r}; one of {sorted(CHECKS)}")
    result = await run_check(component, request)
    if result["status"] == "error":
        raise ApiError(503, "unavailable", f"{component} is unavailable", result)
    return result


@router.get("/api/v1/stats", tags=["jobs"], summary="Job counts and processing times (the caller's jobs)")
async def stats(request: Request, who: Reader) -> dict:
    cond, args = ("", []) if who.is_admin else ("WHERE api_key_id = $1", [who.id])
    pool = request.app.state.pool
    by_status = {r["status"]: r["n"] for r in await pool.fetch(
        f"SELECT status, count(*) AS n FROM jobs {cond} GROUP BY status", *args)}
    row = await pool.fetchrow(
        f"""SELECT count(*) FILTER (WHERE created_at > now() - interval '24 hours') AS created_24h,
                   count(*) FILTER (WHERE status = 'completed' AND completed_at > now() - interval '24 hours')
                       AS completed_24h,
                   count(*) FILTER (WHERE status = 'failed' AND completed_at > now() - interval '24 hours')
                       AS failed_24h,
                   avg(extract(epoch FROM completed_at - created_at)) FILTER (WHERE status = 'completed')
                       AS avg_processing_seconds,
                   percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - created_at))
                       FILTER (WHERE status = 'completed') AS p95_processing_seconds,
                   coalesce(sum(file_size_bytes), 0) AS source_bytes,
                   coalesce(sum(duration_seconds), 0) AS source_seconds
            FROM jobs {cond}""", *args)
    return {"total_jobs": sum(by_status.values()),
            "by_status": {s: by_status.get(s, 0) for s in
                          ("pending", "validating", "processing", "completed", "failed", "cancelled")},
            "last_24h": {"created": row["created_24h"], "completed": row["completed_24h"],
                         "failed": row["failed_24h"]},
            "processing_seconds": {"average": _round(row["avg_processing_seconds"]),
                                   "p95": _round(row["p95_processing_seconds"])},
            "source": {"bytes": row["source_bytes"], "seconds": round(float(row["source_seconds"]), 3)}}


def _round(v) -> float | None:
    return round(float(v), 3) if v is not None else None


class RequestMiddleware:
    """Pure ASGI middleware (BaseHTTPMiddleware costs a task per request): adds the
    caller's `X-RateLimit-*` headers (set by auth in `scope["state"]`) to the response,
    and records per-route request counts and latency."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0, status = time.perf_counter(), 500

        async def send_with_headers(message):
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
            multiprocess.MultiProcessCollector(registry)
        text = generate_latest(registry) if registry is not None else generate_latest()
        return PlainTextResponse(text.decode(), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(RequestMiddleware)
