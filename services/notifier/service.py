"""notifier: an outbox over the read model. A terminal job (completed, failed,
cancelled) with a `webhook_url` and no successful delivery gets its summary POSTed,
signed `X-TFlow-Signature: sha256=<HMAC-SHA256(body)>` with its API key's webhook
secret (jobs without a key: the deployment's). Failures retry with exponential backoff
(`webhook_backoff_seconds`, doubling) up to `webhook_max_attempts`; every attempt is a
row of `webhook_deliveries`. Rows are locked `FOR UPDATE SKIP LOCKED`, so replicas
never deliver one job twice at once. The URL is checked again before each attempt
(SSRF: DNS may have changed since submission)."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta

import asyncpg
import httpx

from services.api.views import job_view
from services.api.webhooks import WebhookRefused, check_webhook_url, sign
from tflow.db import create_pool
from tflow.service import require, run_service
from tflow.settings import Settings

log = logging.getLogger(__name__)
SERVICE = "notifier"

DUE = """
SELECT j.*, k.webhook_secret, coalesce(last.attempt, 0) AS attempts
FROM jobs j
LEFT JOIN api_keys k ON k.id = j.api_key_id
LEFT JOIN LATERAL (SELECT attempt, next_attempt_at, succeeded FROM webhook_deliveries d
                   WHERE d.job_id = j.id ORDER BY attempt DESC LIMIT 1) last ON true
WHERE j.status IN ('completed', 'failed', 'cancelled') AND j.webhook_url IS NOT NULL
  AND (last.attempt IS NULL OR (NOT last.succeeded AND last.next_attempt_at IS NOT NULL
                                AND last.next_attempt_at <= now()))
ORDER BY j.completed_at
LIMIT 20
FOR UPDATE OF j SKIP LOCKED
"""


async def deliver_due(pool: asyncpg.Pool, s: Settings, http: httpx.AsyncClient) -> int:
    """Attempt every due delivery once; returns how many were attempted."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(DUE)
        for row in rows:
            await _attempt(conn, s, http, dict(row))
        return len(rows)


async def _attempt(conn: asyncpg.Connection, s: Settings, http: httpx.AsyncClient, job: dict) -> None:
    attempt = job["attempts"] + 1
    event = f"job.{job['status']}"
    body = json.dumps({"event": event, "job": job_view(job)}, separators=(",", ":"), default=str).encode()
    secret = job["webhook_secret"] or s.webhook_secret_value() or ""
    status, error, retry = None, None, True
    try:
        check_webhook_url(job["webhook_url"], s.allow_private_webhooks, allowed_hosts=s.webhook_allowed_hosts)
        r = await http.post(job["webhook_url"], content=body, headers={
            "Content-Type": "application/json", "User-Agent": "transcode-flow-webhooks/1",
            "X-TFlow-Event": event, "X-TFlow-Delivery": f"{job['id']}.{attempt}",
            "X-TFlow-Signature": sign(secret, body)})
        status = r.status_code
        if not 200 <= status < 300:
            error = f"HTTP {status}"
    except WebhookRefused as e:
        error, retry = str(e), False
    except httpx.HTTPError as e:
        error = f"{type(e).__name__}: {e}"
    ok = error is None
    next_at = None
    if not ok and retry and attempt < s.webhook_max_attempts:
        next_at = timedelta(seconds=s.webhook_backoff_seconds * 2 ** (attempt - 1))
    await conn.execute(
        "INSERT INTO webhook_deliveries (job_id, url, event, attempt, status_code, error, succeeded, "
        "next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $8::interval IS NULL THEN NULL "
        "ELSE now() + $8::interval END)", job["id"], job["webhook_url"], event, attempt, status, error, ok, next_at)
    log.info("webhook %s for job %s attempt %d: %s", event, job["id"], attempt, "ok" if ok else error)


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    """Poll for due deliveries every second until `stop`."""
    pool = await create_pool(require(settings.database_url, "TFLOW_DATABASE_URL"))
    async with httpx.AsyncClient(timeout=settings.webhook_timeout_seconds, follow_redirects=False) as http:
        try:
            while not stop.is_set():
                try:
                    n = await deliver_due(pool, settings, http)
                except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as e:
                    log.warning("database unavailable: %s", e)
                    n = 0
                if not n:
                    try:
                        await asyncio.wait_for(stop.wait(), 1.0)
                    except TimeoutError:
                        pass
        finally:
            await pool.close()


def main() -> None:
    """Entry point of `tflow run notifier` / `python -m services.notifier`."""
    run_service(SERVICE, serve)
