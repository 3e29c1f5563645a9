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
#: The user guide's scope names -> ours.
SCOPE_ALIASES: dict[str, Scope] = {"read": "jobs:read", "write": "jobs:write"}
#: A scope as a request may name it: ours or the user guide's.
AnyScope = Literal["jobs:read", "jobs:write", "admin", "read", "write"]


def canonical_scopes(scopes: list[str]) -> tuple[str, ...]:
    """Scopes in our names (`read` -> `jobs:read`, `write` -> `jobs:write`), each once, in order."""
    return tuple(dict.fromkeys(SCOPE_ALIASES.get(s, s) for s in scopes))


def new_secret() -> str:
    """A new key: `tf_` + 43 URL-safe characters (256 bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    """SHA-256 hex digest: what is stored and compared."""
    return hashlib.sha256(key.encode()).hexdigest()


async def create(db: asyncpg.Pool | asyncpg.Connection, *, name: str, rate_limit_per_hour: int,
                 scopes: tuple[str, ...] = DEFAULT_SCOPES, rate_limit_per_minute: int | None = None,
                 storage_quota_bytes: int | None = None) -> tuple[asyncpg.Record, str]:
    """Insert a key; returns its row and the secret (never stored, shown once). With
    `rate_limit_per_minute` its requests are counted per minute instead of per hour;
    `storage_quota_bytes` bounds the bytes of originals it may have stored (None: no bound)."""
    secret = new_secret()
    row = await db.fetchrow(
        "INSERT INTO api_keys (id, name, key_prefix, key_hash, scopes, rate_limit_per_hour, webhook_secret, "
        "rate_limit_per_minute, storage_quota_bytes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *",
        uuid.uuid4(), name, secret[:8], key_hash(secret), list(scopes), rate_limit_per_hour,
        "whsec_" + secrets.token_urlsafe(32), rate_limit_per_minute, storage_quota_bytes)
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


Window = Literal["hour", "minute"]


async def count_request(db: asyncpg.Pool | asyncpg.Connection, *, key_id: uuid.UUID, limit: int,
                        window: Window = "hour") -> RateState:
    """Count one request against the key's current hour or minute (fixed window, atomic
    across processes), bump today's usage and `last_used_at`, in one statement."""
    row = await db.fetchrow(
        """
        WITH rl AS (
            INSERT INTO rate_limit_windows (api_key_id, window_start, count)
            VALUES ($1, date_trunc($2, now()), 1)
            ON CONFLICT (api_key_id, window_start) DO UPDATE SET count = rate_limit_windows.count + 1
            RETURNING count, window_start
        ), us AS (
            INSERT INTO usage_stats (api_key_id, day, requests) VALUES ($1, current_date, 1)
            ON CONFLICT (api_key_id, day) DO UPDATE SET requests = usage_stats.requests + 1
        ), lu AS (
            UPDATE api_keys SET last_used_at = now() WHERE id = $1
        )
        SELECT count, window_start + ('1 ' || $2)::interval AS reset_at FROM rl
        """, key_id, window)
    return RateState(limit, row["count"], row["reset_at"])


async def stored_bytes(db: asyncpg.Pool | asyncpg.Connection, *, key_id: uuid.UUID) -> int:
    """Bytes of originals the key has stored: submitted minus deleted (`usage_stats`)."""
    n: int = await db.fetchval("SELECT coalesce(sum(bytes_uploaded - bytes_deleted), 0)::bigint FROM usage_stats "
                               "WHERE api_key_id = $1", key_id)
    return max(0, n)


async def count_deletion(db: asyncpg.Pool | asyncpg.Connection, *, key_id: uuid.UUID | None, size: int) -> None:
    """Record `size` bytes of originals deleted in today's usage (admin key: not recorded)."""
    if key_id is None or size <= 0:
        return
    await db.execute(
        "INSERT INTO usage_stats (api_key_id, day, bytes_deleted) VALUES ($1, current_date, $2) "
        "ON CONFLICT (api_key_id, day) DO UPDATE SET bytes_deleted = usage_stats.bytes_deleted + $2", key_id, size)


async def usage(db: asyncpg.Pool | asyncpg.Connection, *, key_id: uuid.UUID) -> list[asyncpg.Record]:
    """The key's usage per day, newest first: requests, jobs submitted, bytes uploaded and deleted."""
    return await db.fetch("SELECT day, requests, jobs_submitted, bytes_uploaded, bytes_deleted FROM usage_stats "
                          "WHERE api_key_id = $1 ORDER BY day DESC", key_id)


async def count_submission(db: asyncpg.Pool | asyncpg.Connection, *, key_id: uuid.UUID | None, size: int) -> None:
    """Count an accepted submission of `size` bytes in today's usage of API key `key_id`
    (nothing for the admin, None)."""
    if key_id is None:
        return
    await db.execute(
        "INSERT INTO usage_stats (api_key_id, day, jobs_submitted, bytes_uploaded) VALUES ($1, current_date, 1, $2) "
        "ON CONFLICT (api_key_id, day) DO UPDATE SET jobs_submitted = usage_stats.jobs_submitted + 1, "
        "bytes_uploaded = usage_stats.bytes_uploaded + $2", key_id, size)
