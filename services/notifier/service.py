"""notifier: an outbox over the read model. A terminal job (completed, failed,
cancelled) with a `webhook_url` and no successful delivery gets its summary POSTed,
signed `X-TFlow-Signature: sha256=<HMAC-SHA256(body)>` with its API key's webhook
secret (jobs without a key: the deployment's). Failures retry with exponential backoff
(`webhook_backoff_seconds`, doubling) up to `webhook_max_attempts`; every attempt is a
row of `webhook_deliveries`. Rows are locked `FOR UPDATE SKIP LOCKED`, so replicas
never deliver one job twice at once. The URL is checked again before each attempt
(SSRF: DNS may have changed since submission)."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import asyncpg
import httpx

from intake.webhooks import WebhookRefused, check_webhook_url, sign
from readmodel import webhooks as outbox
from readmodel.documents import job_view
from runtime.settings import Settings
from services.notifier import NAME

log = logging.getLogger(__name__)
SERVICE = NAME


async def deliver_due(pool: asyncpg.Pool, settings: Settings, http: httpx.AsyncClient) -> int:
    """Attempt every due delivery once; returns how many were attempted."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await outbox.lock_due(conn)
        for row in rows:
            await _attempt(conn, settings, http, dict(row))
        return len(rows)


async def _attempt(conn: asyncpg.Connection, s: Settings, http: httpx.AsyncClient, job: dict[str, Any]) -> None:
    attempt = job["attempts"] + 1
    event = f"job.{job['status']}"
    body = json.dumps({"event": event, "job": job_view(job)}, separators=(",", ":"), default=str).encode()
    secret = job["webhook_secret"] or s.webhook_secret_value() or ""
    status, error, retry = None, None, True
    try:
        target = check_webhook_url(job["webhook_url"], s.webhooks.allow_private,
                                   allowed_hosts=s.webhooks.allowed_hosts)
        headers = {"Content-Type": "application/json", "User-Agent": "transcode-flow-webhooks/1",
                   "X-TFlow-Event": event, "X-TFlow-Delivery": f"{job['id']}.{attempt}",
                   "X-TFlow-Signature": sign(secret, body)}
        if target.host_header:
            headers["Host"] = target.host_header
        # connect to the address that was checked, never to a second resolution of the name
        r = await http.post(target.url, content=body, headers=headers,
                            extensions={"sni_hostname": target.sni_hostname} if target.sni_hostname else None)
        status = r.status_code
        if not 200 <= status < 300:
            error = f"HTTP {status}"
    except WebhookRefused as e:
        error, retry = str(e), False
    except httpx.HTTPError as e:
        error = f"{type(e).__name__}: {e}"
    ok = error is None
    next_at = None
    if not ok and retry and attempt < s.webhooks.max_attempts:
        next_at = timedelta(seconds=s.webhooks.backoff_seconds * 2 ** (attempt - 1))
    await outbox.record_attempt(conn, job_id=job["id"], url=job["webhook_url"], event=event, attempt=attempt,
                                status_code=status, error=error, retry_in=next_at)
    log.info("webhook %s for job %s attempt %d: %s", event, job["id"], attempt, "ok" if ok else error)
