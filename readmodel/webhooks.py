"""The webhook outbox's SQL: terminal jobs with a `webhook_url` whose delivery is due,
locked `FOR UPDATE SKIP LOCKED` (replicas never take one job at once), and one row of
`webhook_deliveries` per attempt."""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg

#: Jobs due a delivery: never attempted, or the last attempt failed and its retry time passed.
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
LIMIT $1
FOR UPDATE OF j SKIP LOCKED
"""


async def lock_due(conn: asyncpg.Connection, *, limit: int = 20) -> list[asyncpg.Record]:
    """Up to `limit` due jobs (with `webhook_secret` of their key and `attempts` so far),
    locked until the caller's transaction ends."""
    return await conn.fetch(DUE, limit)


async def record_attempt(conn: asyncpg.Connection, *, job_id: uuid.UUID, url: str, event: str, attempt: int,
                         status_code: int | None, error: str | None, retry_in: timedelta | None) -> None:
    """One delivery attempt: HTTP status (None when no answer), error (None = success),
    and when to retry (None = never again)."""
    await conn.execute(
        "INSERT INTO webhook_deliveries (job_id, url, event, attempt, status_code, error, succeeded, "
        "next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $8::interval IS NULL THEN NULL "
        "ELSE now() + $8::interval END)", job_id, url, event, attempt, status_code, error, error is None, retry_in)
