"""The skeleton every media handler shares (transcoder, thumbnailer, transcriber,
packager, finalizer).

A handler says two things: which planned tasks a fact asks of it (`work_for`) and how
to do them (`run`). The skeleton does the rest, the same way everywhere: decode or
`term` (`Permanent`), skip tasks that already completed (a redelivery redoes only the
rest), `task_started`, progress, a retryable `task_failed` when the work raises, and,
on the last delivery, permanent `task_failed` facts for whatever is still pending.
Handlers depend on `Facts` and `Objects` only, so they run in memory in tests and on
JetStream + S3 in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import shutil
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import msgspec

from contracts import (
    AnyJobEvent,
    Ingested,
    OutputInfo,
    PlannedTask,
    TaskCompleted,
    TaskFailed,
    TaskProgress,
    TaskResult,
    TaskStarted,
    decode_job_event,
    utcnow,
)
from media.run import FfmpegError, Progress, ffmpeg_binary
from tflow.facts import Facts, Permanent, pending
from tflow.logs import without_addresses
from tflow.objects import Objects
from tflow.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """One message as a handler sees it: subject, payload, delivery attempt (1 = first)."""

    subject: str
    data: bytes
    attempt: int = 1

    @property
    def job_id(self) -> str | None:
        """The job id token of a `jobs.<id>.…` subject, else None."""
        parts = self.subject.split(".")
        return parts[1] if parts[0] == "jobs" and len(parts) > 2 else None


@dataclass(frozen=True)
class Work:
    """What one fact asks of a handler: the job's `ingested` fact, the fact that
    triggered the work, the planned tasks it serves, and the media seconds progress is
    measured against."""

    ingested: Ingested
    trigger: AnyJobEvent
    tasks: list[PlannedTask]
    duration: float

    @property
    def job_id(self) -> str:
        return self.ingested.job_id

    def has(self, task: str) -> bool:
        """Whether `task` is among the tasks to do."""
        return any(t.name == task for t in self.tasks)


def worker_name(service: str) -> str:
    """`<service>@<host>`: who did a task, for the task row."""
    return f"{service}@{socket.gethostname()}"


def decode_or_permanent(data: bytes) -> AnyJobEvent:
    """Decode a job fact; a malformed message raises `Permanent` (it can never succeed)."""
    try:
        return decode_job_event(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise Permanent(f"undecodable message: {e}") from e


class TaskReporter:
    """Publishes the facts of the tasks one piece of work serves. A task it completed or
    failed for good is finished: later failures of the work no longer name it."""

    def __init__(self, facts: Facts, service: str, job_id: str, tasks: list[str], attempt: int, duration: float):
        self.facts, self.service, self.job_id, self.tasks = facts, service, job_id, tasks
        self.attempt, self.duration = attempt, duration
        self.worker = worker_name(service)
        self.finished: set[str] = set()

    @property
    def open_tasks(self) -> list[str]:
        """The tasks not finished yet."""
        return [t for t in self.tasks if t not in self.finished]

    async def started(self) -> None:
        """`task_started` for every task."""
        for t in self.tasks:
            await self.facts.publish(TaskStarted(job_id=self.job_id, at=utcnow(), task=t, attempt=self.attempt,
                                                 worker=self.worker))

    async def progress(self, p: Progress) -> None:
        """`task_progress` (percent, speed in x real time, ETA in seconds) for every open
        task from one progress sample against `duration`."""
        for t in self.open_tasks:
            await self.facts.publish(TaskProgress(job_id=self.job_id, at=utcnow(), task=t,
                                                  percent=round(p.percent(self.duration), 2), speed=p.speed,
                                                  eta_seconds=p.eta_seconds(self.duration)))

    async def complete(self, task: str, outputs: list[OutputInfo], result: TaskResult | None,
                       seconds: float) -> None:
        """`task_completed` with its outputs, typed result and the seconds its work took."""
        await self.facts.publish(TaskCompleted(job_id=self.job_id, at=utcnow(), task=task, outputs=outputs,
                                               result=result, seconds=round(seconds, 3)))
        self.finished.add(task)

    async def failed(self, error: BaseException, permanent: bool, tasks: list[str] | None = None) -> None:
        """`task_failed` for `tasks` (default: every open task), the error's class as code
        (`ffmpeg_failed` for ffmpeg). A permanent failure finishes the task."""
        code = "ffmpeg_failed" if isinstance(error, FfmpegError) else type(error).__name__
        for t in tasks if tasks is not None else self.open_tasks:
            await self.facts.publish(TaskFailed(job_id=self.job_id, at=utcnow(), task=t, code=code,
                                                message=without_addresses(str(error))[-1000:],
                                                permanent=permanent, attempt=self.attempt))
            if permanent:
                self.finished.add(t)


@contextlib.contextmanager
def job_workdir(settings: Settings, job_id: str, service: str) -> Iterator[Path]:
    """A temp directory for one job's work, removed when the work ends, whatever the outcome."""
    parent = settings.work_dir
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f"tflow-{service}-{job_id}-", dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class JobHandler:
    """Base of the media handlers: `handle` and `on_failure` for a `ConsumerLoop`;
    subclasses implement `work_for` and `run`."""

    service: ClassVar[str] = "worker"

    def __init__(self, settings: Settings, facts: Facts, objects: Objects):
        self.settings, self.facts, self.objects = settings, facts, objects

    async def work_for(self, event: AnyJobEvent) -> Work | None:
        """The work `event` asks of this handler, or None (not for it). May raise
        `Permanent` (e.g. the job has no `ingested` fact)."""
        raise NotImplementedError

    async def run(self, work: Work, rep: TaskReporter) -> None:
        """Do `work.tasks` (only the pending ones), completing each through `rep`."""
        raise NotImplementedError

    @property
    def ffmpeg(self) -> str:
        """The ffmpeg binary (`TFLOW_FFMPEG`, else imageio-ffmpeg's)."""
        return ffmpeg_binary(self.settings.ffmpeg)

    async def upload(self, key: str, path: Path, kind: str, **known: Any) -> OutputInfo:
        """Store a finished local file at `key`; its `OutputInfo` with the stored size and
        what the caller knows of it (`width`, `height` in pixels, `bitrate` in bits/s,
        `duration_seconds`, ...)."""
        size = await self.objects.upload(key, path)
        return OutputInfo(key=key, size_bytes=size, kind=kind, **known)

    def workdir(self, job_id: str) -> contextlib.AbstractContextManager[Path]:
        """This service's temp directory for one job (`job_workdir`)."""
        return job_workdir(self.settings, job_id, self.service)

    async def pending_work(self, delivery: Delivery) -> tuple[Work, TaskReporter] | None:
        """The opening every handler shares: decode (or `Permanent`), the work the fact
        asks for, without the tasks already completed; None when nothing is left."""
        work = await self.work_for(decode_or_permanent(delivery.data))
        if work is None:
            return None
        todo = await pending(self.facts, work.job_id, work.tasks)
        if not todo:
            return None
        rep = TaskReporter(self.facts, self.service, work.job_id, [t.name for t in todo], delivery.attempt,
                           work.duration)
        return dataclasses.replace(work, tasks=todo), rep

    async def handle(self, delivery: Delivery) -> None:
        """`task_started`, then `run`; a failure publishes a retryable `task_failed` for
        the open tasks and propagates (the consumer naks; the last delivery ends in
        `on_failure`)."""
        found = await self.pending_work(delivery)
        if found is None:
            return
        work, rep = found
        await rep.started()
        try:
            await self.run(work, rep)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            await rep.failed(e, permanent=False)
            raise

    async def on_failure(self, delivery: Delivery, error: BaseException) -> None:
        """The message's last delivery failed (or it can never succeed): permanent
        `task_failed` for its pending tasks, so the job fails. Never raises: an
        undecodable message or a job without facts is logged and dropped."""
        try:
            found = await self.pending_work(delivery)
        except Exception as e:  # noqa: BLE001 - the failure path must not fail
            log.error("%s: cannot attribute the failure on %s to a task (%s): %s", self.service, delivery.subject,
                      e, error)
            return
        if found is not None:
            await found[1].failed(error, permanent=True)
