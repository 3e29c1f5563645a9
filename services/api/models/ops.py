"""Answers of the operations and key routes: health, stats, API keys, usage."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from services.api.models.base import Model

__all__ = [
    "Health",
    "ComponentHealth",
    "DetailedHealth",
    "Stats",
    "KeyView",
    "KeyCreated",
    "KeyList",
    "KeyRotated",
    "UsageDay",
    "KeyUsage",
]

# --- operations ----------------------------------------------------------------------

class Health(Model):
    """PRD §9.3 `/health`: `healthy` / `degraded` (answers 200) or `unhealthy` (503);
    every service `up` / `down` (`workers`: `"<alive>/<all> active"`)."""

    status: Literal["healthy", "degraded", "unhealthy"]
    services: dict[str, str]
    timestamp: datetime
    projector: dict[str, Any]
    reasons: list[str] = Field(default_factory=list, description="Why the stack is degraded by a full disk: which "
                               "worker or the upload spool, and how much is free (empty when nothing is full).")


class ComponentHealth(Model):
    """One component's check: `ok` / `degraded` / `error`, latency in ms, its figures."""

    model_config = ConfigDict(extra="allow")
    status: Literal["ok", "degraded", "error"]
    latency_ms: float | None = None
    error: str | None = None


class DetailedHealth(Model):
    """The user guide's `/health/detailed`: every component with its state and latency."""

    status: Literal["healthy", "degraded", "unhealthy"]
    timestamp: datetime
    components: dict[str, ComponentHealth]


class Stats(Model):
    """PRD §4 `/api/v1/stats` (of the caller's jobs; every job for admins); ours besides."""

    total_jobs: int
    pending: int
    validating: int
    processing: int
    completed: int
    failed: int
    cancelled: int
    total_input_tb: float = Field(description="TB = 10^12 bytes of originals")
    total_output_tb: float
    avg_processing_time_minutes: float | None
    worker_utilization_percent: float | None = Field(
        description="Workers busy / workers connected now, over every worker consumer (admins only)")
    by_status: dict[str, int]
    last_24h: dict[str, int]
    processing_seconds: dict[str, float | None]
    source: dict[str, float]
    total_output_bytes: int


class KeyView(Model):
    """An API key without its secret."""

    id: str
    name: str
    key_prefix: str
    scopes: list[str]
    rate_limit_per_hour: int
    rate_limit_per_minute: int | None
    storage_quota_bytes: int | None
    is_active: bool
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class KeyCreated(KeyView):
    """PRD §4 key creation: the secret under `api_key` (shown once) and a `warning`."""

    api_key: str
    warning: str
    webhook_secret: str


class KeyList(Model):
    """Every key, newest first."""

    api_keys: list[KeyView]


class KeyRotated(Model):
    """A new secret for the key (the old one stops working at once)."""

    id: str
    api_key: str
    key_prefix: str
    warning: str


class UsageDay(Model):
    """One day of a key's use."""

    day: str
    requests: int
    jobs: int
    bytes_uploaded: int
    bytes_deleted: int


class KeyUsage(Model):
    """The user guide's usage answer: totals, the storage quota and what is left."""

    key_id: str
    requests: int
    jobs: int
    bytes: int = Field(description="Bytes of originals stored (uploaded minus deleted)")
    quota_bytes: int | None
    remaining_bytes: int | None
    rate_limit_per_hour: int
    rate_limit_per_minute: int | None
    days: list[UsageDay]
