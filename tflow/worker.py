"""What every media worker shares: reading the job's facts back from JOBS, publishing
task facts for a set of tasks, a per-job temp directory, and the consumer wiring."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import tempfile
from collections.abc import Awaitable, Iterator
from pathlib import Path

from minio import Minio
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from contracts import (
    Ingested,
    PlannedTask,
    TaskCompleted,
    TaskFailed,
    TaskProgress,
    TaskStarted,
    decode_job_event,
    utcnow,
)
from tflow.ffmpeg import FfmpegError, Progress
from tflow.natsio import Permanent, last_event, publish_event
from tflow.settings import Settings


def worker_name(service: str) -> str:
    """`<service>@<host>`: who did a task, for the task row."""
    return f"{service}@{socket.gethostname()}"


async def job_ingested(js: JetStreamContext, job_id: str) -> Ingested:
    """The job's `ingested` fact. Raises `Permanent` if there is none (nothing to do)."""
    data = await last_event(js, f"jobs.{job_id}.ingested")
    if data is None:
        raise Permanent(f"job {job_id} has no ingested fact")
    event = decode_job_event(data)
    assert isinstance(event, Ingested)
    return event


async def completed(js: JetStreamContext, job_id: str, task: str) -> TaskCompleted | None:
    """The task's completion fact, or None."""
    data = await last_event(js, f"jobs.{job_id}.task_completed.{task}")
    return decode_job_event(data) if data is not None else None  # type: ignore[return-value]


async def pending_tasks(js: JetStreamContext, job_id: str, tasks: list[PlannedTask]) -> list[PlannedTask]:
    """The tasks without a completion fact yet (a redelivered message redoes only those)."""
    return [t for t in tasks if await completed(js, job_id, t.name) is None]


class TaskReporter:
    """Publishes started/progress/failed facts for tasks that one piece of work serves."""

    def __init__(self, js: JetStreamContext, service: str, job_id: str, tasks: list[str], attempt: int,
                 duration: float):
        self.js, self.service, self.job_id, self.tasks = js, service, job_id, tasks
        self.attempt, self.duration = attempt, duration
        self.worker = worker_name(service)

    async def started(self) -> None:
        """`task_started` for every task."""
        for t in self.tasks:
            await publish_event(self.js, TaskStarted(job_id=self.job_id, at=utcnow(), task=t, attempt=self.attempt,
                                                     worker=self.worker), self.service)

    async def progress(self, p: Progress) -> None:
        """`task_progress` for every task from one ffmpeg progress sample."""
        for t in self.tasks:
            await publish_event(self.js, TaskProgress(job_id=self.job_id, at=utcnow(), task=t,
                                                      percent=round(p.percent(self.duration), 2), speed=p.speed,
                                                      eta_seconds=p.eta_seconds(self.duration)), self.service)

    async def failed(self, error: BaseException, permanent: bool, tasks: list[str] | None = None) -> None:
        """`task_failed` for `tasks` (default all), with the error's class as code."""
        code = "ffmpeg_failed" if isinstance(error, FfmpegError) else type(error).__name__
        for t in tasks or self.tasks:
            await publish_event(self.js, TaskFailed(job_id=self.job_id, at=utcnow(), task=t, code=code,
                                                    message=str(error)[-1000:], permanent=permanent,
                                                    attempt=self.attempt), self.service)


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
    """Base of the media workers' handlers: settings, JetStream, store client; and the
    permanent failure of named tasks when a message's last delivery failed."""

    service = "worker"

    def __init__(self, settings: Settings, js: JetStreamContext, client: Minio):
        self.s, self.js, self.client = settings, js, client

    async def reported(self, rep: TaskReporter, work: Awaitable[None]) -> None:
        """`task_started`, then `work`; a failure publishes a retryable `task_failed` and
        propagates (the consumer naks; the last delivery's failure is `fail_final`)."""
        await rep.started()
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as e:
            await rep.failed(e, permanent=False)
            raise

    async def fail_final(self, msg: Msg, tasks: list[str], error: BaseException) -> None:
        """`task_failed` (permanent) for `tasks` of the message's job."""
        rep = TaskReporter(self.js, self.service, job_id_of(msg), tasks, msg.metadata.num_delivered, 0.0)
        await rep.failed(error, permanent=True)


def job_id_of(msg: Msg) -> str:
    """The job id token of a `jobs.<id>.…` subject."""
    return msg.subject.split(".")[1]

