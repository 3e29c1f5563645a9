"""The backup schedule (PRD §9.3; `tflow backup --schedule`, compose's `backup` service):
a full snapshot daily at `TFLOW_BACKUP_AT` (database, streams, secrets, objects; at once
when the repository has none) and an objects snapshot every
`TFLOW_BACKUP_OBJECTS_EVERY_MINUTES`. When each is due is read from the repository's own
snapshots, so a restart neither repeats nor skips one. A failed backup is logged,
counted, and tried again after `RETRY_SECONDS`."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from pathlib import Path

from prometheus_client import Counter, Gauge

from ops.recovery import repository as repo_
from ops.recovery.backup import take
from runtime.settings import Settings
from runtime.upkeep import next_daily

log = logging.getLogger(__name__)

#: Seconds before a failed backup is tried again.
RETRY_SECONDS = 300.0
#: Longest sleep between two looks at the clock (a changed clock is noticed).
LOOK_SECONDS = 60.0

LAST_SUCCESS = Gauge("tflow_backup_last_success_timestamp_seconds", "Unix time the newest snapshot of a kind "
                     "finished (full: database, streams, secrets, objects; objects: incremental).", ["kind"])
FAILURES = Counter("tflow_backup_failures_total", "Scheduled backups that failed, by kind.", ["kind"])


def started_at(snap: repo_.Snapshot) -> datetime:
    """When `snap` was started (aware)."""
    return datetime.fromisoformat(snap.manifest["started_at"])


def next_backup(now: datetime, snaps: list[repo_.Snapshot], at: str,
                every_minutes: float) -> tuple[datetime, tuple[str, ...]]:
    """When the next snapshot is due and its parts: now and every part without a full
    snapshot; else the first `at` after the newest full one, or the newest objects
    snapshot plus `every_minutes`, whichever comes first (the full one on a tie, and
    whenever it is overdue)."""
    fulls = [s for s in snaps if s.full]
    if not fulls:
        return now, repo_.PARTS
    full_due = next_daily(started_at(fulls[-1]), at)
    objects = [s for s in snaps if "objects" in s.parts]
    objects_due = started_at(objects[-1]) + timedelta(minutes=every_minutes)
    if full_due <= max(now, objects_due):  # overdue or first: the full one (it holds the objects too)
        return full_due, repo_.PARTS
    return objects_due, ("objects",)


def _mark(snaps: list[repo_.Snapshot]) -> None:
    for kind, found in (("full", [s for s in snaps if s.full]), ("objects", snaps)):
        if found:
            LAST_SUCCESS.labels(kind).set(datetime.fromisoformat(found[-1].manifest["finished_at"]).timestamp())


async def keep_backing_up(settings: Settings, repo: Path, stop: asyncio.Event) -> None:
    """Take the snapshots the schedule says are due into `repo` until `stop` is set."""
    from contracts import utcnow

    retry_at: datetime | None = None
    while not stop.is_set():
        snaps = repo_.snapshots(repo)
        _mark(snaps)
        due, parts = next_backup(utcnow(), snaps, settings.backup.at, settings.backup.objects_every_minutes)
        if retry_at is not None:
            due = max(due, retry_at)
        wait = (due - utcnow()).total_seconds()
        if wait > 0:
            try:
                await asyncio.wait_for(stop.wait(), min(wait, LOOK_SECONDS))
            except TimeoutError:
                pass
            continue
        kind = "full" if parts == repo_.PARTS else "objects"
        try:
            manifest = await asyncio.to_thread(take, settings, repo, parts)
            retry_at = None
            log.info("backup: %s snapshot %s (%s)", kind, manifest["id"], manifest.get("objects"))
        except Exception as e:  # noqa: BLE001 - a server away or a full backup disk: tried again later
            FAILURES.labels(kind).inc()
            retry_at = utcnow() + timedelta(seconds=RETRY_SECONDS)
            log.warning("backup: the %s snapshot failed (%s: %s); trying again at %s", kind, type(e).__name__, e,
                        retry_at.isoformat(timespec="seconds"))
