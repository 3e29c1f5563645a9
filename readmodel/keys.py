"""API keys (PRD §8.1): random `tf_` secrets shown once, stored as SHA-256 hashes, with
scopes, a per-hour rate limit, revocation and rotation; plus the shared per-key rate
limiter and usage counters (Postgres, so every API process sees the same counts).
Not job state: the API writes these tables itself."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import asyncpg

KEY_PREFIX = "tf_"
#: Scopes: read jobs, submit/cancel jobs, manage keys.
SCOPES = ("jobs:read", "jobs:write", "admin")
Scope = Literal["jobs:read", "jobs:write", "admin"]
DEFAULT_SCOPES: tuple[Scope, ...] = ("jobs:read", "jobs:write")


def new_secret() -> str:
    """A new key: `tf_` + 43 URL-safe characters (256 bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    """SHA-256 hex digest: what is stored and compared."""
    return hashlib.sha256(key.encode()).hexdigest()


async def create(db: asyncpg.Pool | asyncpg.Connection, *, name: str, rate_limit_per_hour: int,
                 scopes: tuple[str, ...] = DEFAULT_SCOPES) -> tuple[asyncpg.Record, str]:
    """Insert a key; returns its row and the secret (never stored, shown once)."""
    secret = new_secret()
    row = await db.fetchrow(
        "INSERT INTO api_keys (id, name, key_prefix, key_hash, scopes, rate_limit_per_hour, webhook_secret) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
        uuid.uuid4(), name, secret[:8], key_hash(secret), list(scopes), rate_limit_per_hour,
        "whsec_" + secrets.token_urlsafe(32))
    return row, secret


async def list_all(db: asyncpg.Pool | asyncpg.Connection) -> list[asyncpg.Record]:
    """Every key, newest first (no secrets: they are not stored)."""
    return await db.fetch("SELECT * FROM api_keys ORDER BY created_at DESC, id")


async def revoke(db: asyncpg.Pool | asyncpg.Connection, *, key_id: uuid.UUID) -> bool:
    """Deactivate a key; False when it does not exist."""
    row = await db.fetchrow("UPDATE api_keys SET is_active = false, revoked_at = coalesce(revoked_at, now()) "
                            "WHERE id = $1 RETURNING id", key_id)
    return row is not None


async def rotate(db: asyncpg.Pool | asyncpg.Connection, *, key_id: uuid.UUID) -> str | None:
    """New secret for an active key (the old one stops working at once); None if unknown/revoked."""
    secret = new_secret()
    row = await db.fetchrow("UPDATE api_keys SET key_hash = $2, key_prefix = $3, rotated_at = now() "
                            "WHERE id = $1 AND is_active RETURNING id", key_id, key_hash(secret), secret[:8])
    return secret if row is not None else None


async def find(db: asyncpg.Pool | asyncpg.Connection, *, key: str) -> asyncpg.Record | None:
    """The key's row by its hash (active or not), or None."""
    return await db.fetchrow("SELECT * FROM api_keys WHERE key_hash = $1", key_hash(key))


@dataclass(frozen=True)
class RateState:
    """After counting a request: the limit, what is left, and when the window resets."""

    limit: int
    used: int
    reset_at: datetime

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def exceeded(self) -> bool:
        return self.used > self.limit


async def count_request(db: asyncpg.Pool | asyncpg.Connection, *, key_id: uuid.UUID, limit: int) -> RateState:
    """Count one request against the key's current hour (fixed window, atomic across
    processes), bump today's usage and `last_used_at`, in one statement."""
    row = await db.fetchrow(
        """
        WITH rl AS (
            INSERT INTO rate_limit_windows (api_key_id, window_start, count)
            VALUES ($1, date_trunc('hour', now()), 1)
            ON CONFLICT (api_key_id, window_start) DO UPDATE SET count = rate_limit_windows.count + 1
            RETURNING count, window_start
        ), us AS (
            INSERT INTO usage_stats (api_key_id, day, requests) VALUES ($1, current_date, 1)
            ON CONFLICT (api_key_id, day) DO UPDATE SET requests = usage_stats.requests + 1
        ), lu AS (
            UPDATE api_keys SET last_used_at = now() WHERE id = $1
        )
        SELECT count, window_start + interval '1 hour' AS reset_at FROM rl
        """, key_id)
    return RateState(limit, row["count"], row["reset_at"])


async def count_submission(db: asyncpg.Pool | asyncpg.Connection, *, key_id: uuid.UUID | None, size: int) -> None:
    """Record a submitted job and its bytes in today's usage (admin key: not recorded)."""
    if key_id is None:
        return
    await db.execute(
        "INSERT INTO usage_stats (api_key_id, day, jobs_submitted, bytes_uploaded) VALUES ($1, current_date, 1, $2) "
        "ON CONFLICT (api_key_id, day) DO UPDATE SET jobs_submitted = usage_stats.jobs_submitted + 1, "
        "bytes_uploaded = usage_stats.bytes_uploaded + $2", key_id, size)
