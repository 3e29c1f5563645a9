"""Authentication (`X-API-Key`), scopes and the per-key rate limit, as FastAPI dependencies."""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, APIKeyQuery

from readmodel import keys
from readmodel.keys import SCOPES
from services.api.deps import ResourcesDep
from services.api.errors import ApiError
from services.api.metrics import KEY_REQUESTS, RATE_LIMITED


@dataclass(frozen=True)
class Principal:
    """Who is calling: the admin key (id None, every scope, no rate limit) or an API key."""

    id: uuid.UUID | None
    name: str
    scopes: tuple[str, ...]
    rate_limit_per_hour: int | None
    storage_quota_bytes: int | None = None

    @property
    def is_admin(self) -> bool:
        """The admin key, or a key with the `admin` scope."""
        return self.id is None or "admin" in self.scopes

    @property
    def owner(self) -> uuid.UUID | None:
        """The key whose jobs this caller sees; None for the admin (every job)."""
        return None if self.is_admin else self.id


ADMIN = Principal(None, "admin", SCOPES, None)


api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                              description="An API key (`tf_…`) or the admin key")


def rate_headers(state: keys.RateState) -> dict[str, str]:
    """`X-RateLimit-Limit/Remaining/Reset` (reset as Unix seconds)."""
    return {"X-RateLimit-Limit": str(state.limit), "X-RateLimit-Remaining": str(state.remaining),
            "X-RateLimit-Reset": str(int(state.reset_at.timestamp()))}


api_key_query = APIKeyQuery(name="api_key", auto_error=False,
                            description="An API key, for browsers' EventSource, which cannot send headers "
                                        "(never logged: access logs show `api_key=***`)")


async def principal(request: Request, res: ResourcesDep,
                    key: Annotated[str | None, Depends(api_key_header)]) -> Principal:
    """The caller by `X-API-Key` (`authenticate`)."""
    return await authenticate(request, res, key, "missing X-API-Key header")


async def query_principal(request: Request, res: ResourcesDep,
                          header: Annotated[str | None, Depends(api_key_header)],
                          query: Annotated[str | None, Depends(api_key_query)]) -> Principal:
    """The caller by `X-API-Key`, else by the `api_key` query parameter (SSE for browsers)."""
    return await authenticate(request, res, header or query, "missing X-API-Key header or api_key parameter")


async def authenticate(request: Request, res: ResourcesDep, key: str | None, missing: str) -> Principal:
    """The caller. 401: no key, unknown key, revoked key. 429 (with `Retry-After`) past the
    key's limit per hour (or per minute, when the key has one), counted in Postgres so
    every API process shares it."""
    if not key:
        raise ApiError(401, "unauthorized", missing)
    if hmac.compare_digest(keys.key_hash(key), res.admin_key_hash):
        KEY_REQUESTS.labels("admin").inc()
        return ADMIN
    row = await keys.find(res.pool, key=key)
    if row is None:
        raise ApiError(401, "unauthorized", "invalid API key")
    if not row["is_active"]:
        raise ApiError(401, "unauthorized", "this API key has been revoked")
    who = Principal(row["id"], row["name"], tuple(row["scopes"]), row["rate_limit_per_hour"],
                    row["storage_quota_bytes"])
    per_minute = row["rate_limit_per_minute"]
    window: keys.Window = "minute" if per_minute else "hour"
    state = await keys.count_request(res.pool, key_id=row["id"], limit=per_minute or row["rate_limit_per_hour"],
                                     window=window)
    headers = rate_headers(state)
    if state.exceeded:
        RATE_LIMITED.inc()
        retry = max(1, int((state.reset_at - datetime.now(UTC)).total_seconds()))
        raise ApiError(429, "rate_limited", f"rate limit of {state.limit} requests per {window} exceeded",
                       {"limit": state.limit, "reset_at": state.reset_at.isoformat()},
                       headers={**headers, "Retry-After": str(retry)})
    request.state.rate_headers = headers
    KEY_REQUESTS.labels(row["name"]).inc()
    return who


def require(scope: str, by: Callable[..., Awaitable[Principal]] = principal) -> Callable[..., Awaitable[Principal]]:
    """Dependency: the caller (found by `by`) must hold `scope` (403 otherwise); the admin
    key holds all."""

    found = Depends(by)

    async def check(who: Principal = found) -> Principal:
        if who.id is not None and scope not in who.scopes:
            raise ApiError(403, "forbidden", f"this API key lacks the '{scope}' scope")
        return who

    return check


Reader = Annotated[Principal, Depends(require("jobs:read"))]
Writer = Annotated[Principal, Depends(require("jobs:write"))]
Admin = Annotated[Principal, Depends(require("admin"))]
#: A reader whose key may come in the `api_key` query parameter (SSE from browsers).
QueryReader = Annotated[Principal, Depends(require("jobs:read", query_principal))]
