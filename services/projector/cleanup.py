"""Retention and cleanup (PRD §6.2; issue 28), run by `tflow cleanup` and by the
projector daily at `TFLOW_CLEANUP_AT` (02:00) and at its start:

| what                               | removed when older than                    | how                      |
|------------------------------------|--------------------------------------------|--------------------------|
| job directories, upload spools     | `TFLOW_TEMP_RETENTION_HOURS` (24 h)        | from the work dir        |
| failed (and rejected) jobs         | `TFLOW_FAILED_JOB_RETENTION_DAYS` (30 d)   | outputs, `deleted` fact  |
| originals uploaded through the API | `TFLOW_API_SOURCE_RETENTION_DAYS` (unset)  | `original_removed` fact  |
| service log files                  | `TFLOW_ERROR_LOG_RETENTION_DAYS` (90 d)    | from `<data_dir>/logs`   |

Every deletion of job data is a fact the projector folds (a rebuild reproduces it) and
`tflow_cleanup_removed_total{kind}`; a dry run lists what would be removed and removes
nothing. Originals are otherwise never deleted, and only one the API itself stored
(`x-amz-meta-origin: api`) is ever removed by retention.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from minio import Minio
from prometheus_client import Counter, Gauge

from contracts import Deleted, OriginalRemoved, layout, utcnow
from readmodel import jobs
from runtime.settings import Settings
from runtime.storage import store
from runtime.storage.space import work_root
from runtime.upkeep import next_daily
from runtime.worker.facts import Facts
from runtime.worker.workdirs import old_temp, remove_path

log = logging.getLogger(__name__)

Kind = Literal["temp", "failed_job", "api_original", "log"]
REMOVED = Counter("tflow_cleanup_removed", "What the cleanup removed, by kind (temp, failed_job, api_original, log).",
                  ["kind"])
LAST_RUN = Gauge("tflow_cleanup_last_run_timestamp_seconds", "When the cleanup last ran to its end (epoch seconds).")
#: Jobs looked at per kind in one run (the next run takes the rest).
BATCH = 1000
#: Who a retention `deleted` fact names.
BY = "retention"


@dataclass(frozen=True)
class Removal:
    """One thing the cleanup removes: its `kind`, `target` (a path, or a job id) and why."""

    kind: Kind
    target: str
    reason: str
    source_key: str | None = None


def old_logs(folder: Path, max_age_seconds: float, now: float) -> list[Path]:
    """Log files (`*.log`, rotated `*.log.*`) in `folder` not written for `max_age_seconds`."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and ".log" in p.name
                  and now - p.stat().st_mtime > max_age_seconds)


async def plan(settings: Settings, pool: jobs.Db, now: datetime | None = None) -> list[Removal]:
    """What a cleanup run at `now` (default: the clock) removes, by the settings above."""
    up = settings.upkeep
    at = now or utcnow()
    epoch = at.timestamp()
    out = [Removal("temp", str(p), f"in the work dir for more than {up.temp_retention_hours:g} h")
           for p in old_temp(work_root(settings.worker.work_dir), up.temp_retention_hours * 3600, epoch)]
    for row in await jobs.fetch_finished_before(pool, statuses=("failed",),
                                                before=at - timedelta(days=up.failed_job_retention_days), limit=BATCH):
        out.append(Removal("failed_job", str(row["id"]), f"failed more than {up.failed_job_retention_days:g} days ago",
                           row["source_key"]))
    if up.api_source_retention_days is not None:
        for row in await jobs.fetch_finished_before(pool, statuses=("completed", "failed", "cancelled"),
                                                    before=at - timedelta(days=up.api_source_retention_days),
                                                    limit=BATCH, origin="api"):
            out.append(Removal("api_original", str(row["id"]), "uploaded through the API and finished more than "
                               f"{up.api_source_retention_days:g} days ago", row["source_key"]))
    out += [Removal("log", str(p), f"not written for more than {up.error_log_retention_days:g} days")
            for p in old_logs(settings.data_dir / "logs", up.error_log_retention_days * 86400, epoch)]
    return out


async def apply(removals: list[Removal], client: Minio, bucket: str, facts: Facts) -> dict[str, int]:
    """Remove each of `removals`; counts by kind. A job's objects are removed before its
    fact is published, so a run cut short is done again by the next one."""
    counts: dict[str, int] = {}
    for r in removals:
        if r.kind in ("temp", "log"):
            await asyncio.to_thread(remove_path, Path(r.target))
        elif r.kind == "failed_job":
            await asyncio.to_thread(store.remove_objects, client, bucket, layout.processed_prefix(r.target))
            await facts.publish(Deleted(job_id=r.target, at=utcnow(), files_deleted=True, by=BY))
        elif r.source_key is not None:
            if not await asyncio.to_thread(_api_stored, client, bucket, r.source_key):
                continue  # referenced by the API, not stored by it: never removed
            await asyncio.to_thread(store.remove_original, client, bucket, r.source_key)
            await facts.publish(OriginalRemoved(job_id=r.target, at=utcnow(), by=BY))
        counts[r.kind] = counts.get(r.kind, 0) + 1
        REMOVED.labels(r.kind).inc()
        log.info("cleanup: removed %s %s (%s)", r.kind, r.target, r.reason)
    LAST_RUN.set(time.time())
    return counts


def _api_stored(client: Minio, bucket: str, key: str) -> bool:
    """Whether `key` is an original the API stored (`x-amz-meta-origin: api`)."""
    found = store.head(client, bucket, key)
    return found is not None and found[1].get("origin") == "api"


async def keep_clean(settings: Settings, pool: jobs.Db, client: Minio, facts: Facts, stop: asyncio.Event) -> None:
    """Run the cleanup at start, then daily at `TFLOW_CLEANUP_AT`, until `stop`. A run
    that fails (a server away) is logged and tried at the next time."""
    while not stop.is_set():
        try:
            counts = await apply(await plan(settings, pool), client, settings.s3.bucket, facts)
            if counts:
                log.info("cleanup: %s", ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
        except Exception as e:  # noqa: BLE001 - a server away: the next run does it
            log.warning("cleanup did not finish (%s: %s); next run at %s", type(e).__name__, e,
                        settings.upkeep.cleanup_at)
        wait = (next_daily(utcnow(), settings.upkeep.cleanup_at) - utcnow()).total_seconds()
        try:
            await asyncio.wait_for(stop.wait(), max(1.0, wait))
        except TimeoutError:
            pass
