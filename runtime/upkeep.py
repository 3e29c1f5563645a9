"""Settings of the stack's upkeep: the free space a worker needs before it takes work,
what the daily cleanup removes (issue 28, PRD §6.2: `tflow cleanup`, the projector's
schedule), and the backup schedule and retention (issue 29, PRD §9.3: `tflow backup`,
compose's `backup` service). Environment variables `TFLOW_*` (README, Settings)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class UpkeepSettings(BaseSettings):
    """Free space and retention (`TFLOW_MIN_FREE_BYTES`, `TFLOW_*_RETENTION_*`, `TFLOW_CLEANUP_AT`)."""

    model_config = SettingsConfigDict(env_prefix="TFLOW_", extra="ignore", populate_by_name=True)

    min_free_bytes: int = Field(1_000_000_000, ge=0, description="Bytes a worker's work dir must have free before "
                                "it starts a task, and again after a disk-full failure before the retry "
                                "(the task waits, holding its message; 0: never wait).")
    temp_retention_hours: float = Field(24.0, gt=0, description="Job directories and upload spools in the work dir "
                                        "older than this are removed by the cleanup (PRD §6.2).")
    failed_job_retention_days: float = Field(30.0, gt=0, description="Failed and rejected jobs older than this are "
                                             "deleted with their outputs by the cleanup (PRD §6.2).")
    error_log_retention_days: float = Field(90.0, gt=0, description="Service log files (`<data_dir>/logs`) older than "
                                            "this are removed by the cleanup (PRD §6.2 error logs).")
    api_source_retention_days: float | None = Field(None, gt=0, description="When set, originals uploaded through "
                                                    "the API are deleted this many days after their job finished; "
                                                    "unset: originals are kept.")
    cleanup_at: str = Field("02:00", description="Local time (HH:MM) the stack runs the cleanup each day; it also "
                            "runs at start.")

    @field_validator("cleanup_at")
    @classmethod
    def _clock(cls, v: str) -> str:
        return local_clock(v, "TFLOW_CLEANUP_AT")


class BackupSettings(BaseSettings):
    """Where backups go, how many are kept, and when they are taken (PRD §9.3: the database
    and the streams daily, together; the objects incrementally, more often)."""

    model_config = SettingsConfigDict(env_prefix="TFLOW_BACKUP_", extra="ignore", populate_by_name=True)

    dir: Path | None = Field(None, description="The backup repository (`tflow backup`, the scheduled backups); "
                             "default `<data_dir>/backups`. Point it at another disk or a mounted remote: a "
                             "copy on the same disk survives no disk failure.")
    keep: int = Field(7, ge=1, description="Full snapshots (database, streams, secrets, objects) kept; older "
                      "snapshots and the object copies only they use are removed after each backup.")
    at: str = Field("03:00", description="Local time (HH:MM) of the daily full snapshot (PRD §9.3: Postgres and "
                    "the streams daily, taken together so the projector's checkpoint is never ahead of the facts).")
    objects_every_minutes: float = Field(60.0, gt=0, description="Minutes between two incremental object "
                                         "snapshots (only new or changed objects are copied).")

    @field_validator("at")
    @classmethod
    def _clock(cls, v: str) -> str:
        return local_clock(v, "TFLOW_BACKUP_AT")


def local_clock(value: str, variable: str) -> str:
    """`value` as a local time of day `HH:MM`. Raises ValueError naming `variable` otherwise."""
    if re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", value.strip()) is None:
        raise ValueError(f"{variable} is a local time HH:MM, e.g. 02:00")
    return value.strip()


def next_daily(after: datetime, clock: str) -> datetime:
    """The first local time `clock` (HH:MM) after `after` (an aware datetime)."""
    hour, minute = (int(x) for x in clock.split(":"))
    local = after.astimezone()
    candidate = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if candidate <= local:
        candidate += timedelta(days=1)
    return candidate
