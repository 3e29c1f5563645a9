"""Settings of the stack's upkeep (issue 28, PRD §6.2): the free space a worker needs
before it takes work, and what the daily cleanup removes (`tflow cleanup`,
`services.janitor`). Environment variables `TFLOW_*` (README, Settings)."""

from __future__ import annotations

import re

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
        m = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", v.strip())
        if m is None:
            raise ValueError("TFLOW_CLEANUP_AT is a local time HH:MM, e.g. 02:00")
        return v.strip()
