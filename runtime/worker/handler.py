"""The skeleton every media handler shares (transcoder, thumbnailer, transcriber,
finalizer, finalizer).

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
import errno
import logging
import socket
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import msgspec

from contracts import (
    AnyJobEvent,
    Ingested,
    JobOptions,
    OutputInfo,
    PlannedTask,
    Replayed,
    TaskCompleted,
    TaskFailed,
    TaskProgress,
    TaskResult,
    TaskStarted,
    decode_job_event,
    utcnow,
)
from runtime.jetstream.delivery import Delivery
from runtime.jetstream.retry import Permanent
from runtime.observability.logs import log_context
from runtime.settings import Settings
from runtime.storage.objects import Objects
from runtime.storage.space import NEARLY_FULL_BYTES, free_bytes, full_reason, wait_for_space, work_root
from runtime.worker.facts import Facts, ingested, pending, replay, required_epoch
from runtime.worker.failures import DISK_FULL, Blame, classify
from runtime.worker.workdirs import job_workdir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Work:
    """What one fact asks of a handler: the job's `ingested` fact, the fact that
    triggered the work, the planned tasks it serves, the media seconds progress is
    measured against, and the job's options now (those of its last replay, if any;
    filled in by `JobHandler.pending_work`)."""

    ingested: Ingested
    trigger: AnyJobEvent
    tasks: list[PlannedTask]
    duration: float
    options: JobOptions | None = None

    @property
    def job_options(self) -> JobOptions:
        """`options`, else those the job was submitted with."""
        return self.options if self.options is not None else self.ingested.options

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


class ProgressSample(Protocol):
    """One progress reading of a running task (`media.run.Progress` is one): its percent
    and ETA (seconds) against a media duration in seconds, and its speed (x real time)."""

    @property
    def speed(self) -> float | None: ...

    def percent(self, duration: float) -> float: ...

    def eta_seconds(self, duration: float) -> float | None: ...


class TaskReporter:
    """Publishes the facts of the tasks one piece of work serves. A task it completed or
    failed for good is finished: later failures of the work no longer name it. `priority`
    (the job's, 1..10) goes into the completions, whose band orders the work they ask for."""

    def __init__(self, facts: Facts, service: str, job_id: str, tasks: list[str], attempt: int, duration: float,
                 epochs: dict[str, int] | None = None, priority: int = 5):
        self.facts, self.service, self.job_id, self.tasks = facts, service, job_id, tasks
        self.attempt, self.duration, self.priority = attempt, duration, priority
        self.epochs = epochs or {}
        self.worker = worker_name(service)
        self.finished: set[str] = set()

    def epoch(self, task: str) -> int:
        """The epoch `task` runs in (1 unless a replay named it)."""
        return self.epochs.get(task, 1)

    @property
    def open_tasks(self) -> list[str]:
        """The tasks not finished yet."""
        return [t for t in self.tasks if t not in self.finished]

    async def started(self) -> None:
        """`task_started` for every task."""
        log.info("%s: starting %s (attempt %d)", self.service, ", ".join(self.tasks), self.attempt)
        for t in self.tasks:
            await self.facts.publish(TaskStarted(job_id=self.job_id, at=utcnow(), task=t, attempt=self.attempt,
                                                 worker=self.worker, epoch=self.epoch(t)))

    async def progress(self, p: ProgressSample) -> None:
        """`task_progress` (percent, speed in x real time, ETA in seconds) for every open
        task from one progress sample against `duration`."""
        for t in self.open_tasks:
            await self.facts.publish(TaskProgress(job_id=self.job_id, at=utcnow(), task=t,
                                                  percent=round(p.percent(self.duration), 2), speed=p.speed,
                                                  eta_seconds=p.eta_seconds(self.duration), epoch=self.epoch(t)))

    async def complete(self, task: str, outputs: list[OutputInfo], result: TaskResult | None,
                       seconds: float) -> None:
        """`task_completed` with its outputs, typed result and the seconds its work took."""
        log.info("%s: %s completed in %.2fs (%d outputs)", self.service, task, seconds, len(outputs))
        await self.facts.publish(TaskCompleted(job_id=self.job_id, at=utcnow(), task=task, outputs=outputs,
                                               result=result, seconds=round(seconds, 3), epoch=self.epoch(task),
                                               priority=self.priority))
        self.finished.add(task)

    async def failed(self, error: BaseException, permanent: bool, tasks: list[str] | None = None,
                     retry_in: float | None = None, reason: str | None = None) -> None:
        """`task_failed` for `tasks` (default: every open task) with the code and reason
        sentence of `runtime.worker.failures.classify` (the cause's for a `Permanent`
        wrapping one; `reason` replaces the sentence), and for a retryable one the seconds
        until the retry. A permanent failure finishes the task."""
        found = classify(error)
        for t in tasks if tasks is not None else self.open_tasks:
            await self.facts.publish(TaskFailed(job_id=self.job_id, at=utcnow(), task=t, code=found.code,
                                                message=reason or found.reason,
                                                permanent=permanent, attempt=self.attempt,
                                                retry_in_seconds=None if permanent else retry_in,
                                                epoch=self.epoch(t)))
            if permanent:
                self.finished.add(t)


class JobHandler:
    """Base of the media handlers: `handle` and `on_failure` for a `ConsumerLoop`;
    subclasses implement `work_for` and `run`."""

    service: ClassVar[str] = "worker"
    #: Whether its tasks write to the work dir (it then waits for `min_free_bytes` first).
    uses_disk: ClassVar[bool] = True

    def __init__(self, settings: Settings, facts: Facts, objects: Objects):
        self.settings, self.facts, self.objects = settings, facts, objects

    async def work_for(self, event: AnyJobEvent) -> Work | None:
        """The work `event` asks of this handler, or None (not for it). May raise
        `Permanent` (e.g. the job has no `ingested` fact)."""
        raise NotImplementedError

    async def run(self, work: Work, rep: TaskReporter) -> None:
        """Do `work.tasks` (only the pending ones), completing each through `rep`."""
        raise NotImplementedError

    def limits(self, work: Work) -> dict[str, float]:
        """The watchdog of `work`'s ffmpeg runs (`run_ffmpeg` keywords): killed when its
        position holds for `task_stall_seconds`, or after the time limit scaled to the
        media's duration (`Settings.task_time_limit`)."""
        return {"stall_seconds": self.settings.worker.task_stall_seconds,
                "time_limit": self.settings.worker.task_time_limit(work.duration)}

    async def upload(self, key: str, path: Path, kind: str, **known: Any) -> OutputInfo:
        """Store a finished local file at `key`; its `OutputInfo` with the stored size and
        what the caller knows of it (`width`, `height` in pixels, `bitrate` in bits/s,
        `duration_seconds`, ...)."""
        size = await self.objects.upload(key, path)
        return OutputInfo(key=key, size_bytes=size, kind=kind, **known)

    def workdir(self, job_id: str) -> contextlib.AbstractContextManager[Path]:
        """This service's temp directory for one job (`job_workdir`)."""
        return job_workdir(self.settings.worker.work_dir, job_id, self.service)

    async def source_work(self, event: AnyJobEvent, kinds: Collection[str]) -> Work | None:
        """The work of a handler that starts from the source: on `ingested`, the planned
        tasks of `kinds`; on `replayed`, those of them the replay names. Else None."""
        if isinstance(event, Ingested):
            ing = event
            tasks = [t for t in ing.plan if t.kind in kinds]
        elif isinstance(event, Replayed):
            ing = await ingested(self.facts, event.job_id)
            tasks = [t for t in ing.plan if t.kind in kinds and t.name in event.tasks]
        else:
            return None
        return Work(ingested=ing, trigger=event, tasks=tasks, duration=ing.probe.duration_seconds)

    async def pending_work(self, delivery: Delivery) -> tuple[Work, TaskReporter] | None:
        """The opening every handler shares: decode (or `Permanent`), the work the fact
        asks for, without the tasks already completed in their current epoch; None when
        nothing is left. An `ingested` or `replayed` trigger only serves the tasks whose
        current epoch is its own (a redelivered `ingested` never runs a replayed task)."""
        work = await self.work_for(decode_or_permanent(delivery.data))
        if work is None:
            return None
        last_replay = await replay(self.facts, work.job_id)
        tasks = work.tasks
        if isinstance(work.trigger, Ingested | Replayed):
            own = work.trigger.epoch if isinstance(work.trigger, Replayed) else 1
            tasks = [t for t in tasks if required_epoch(last_replay, t.name) == own]
        todo = await pending(self.facts, work.job_id, tasks, last_replay)
        if not todo:
            return None
        options = last_replay.options if last_replay is not None else work.ingested.options
        rep = TaskReporter(self.facts, self.service, work.job_id, [t.name for t in todo], delivery.attempt,
                           work.duration, {t.name: required_epoch(last_replay, t.name) for t in todo},
                           priority=options.priority)
        return dataclasses.replace(work, tasks=todo, options=options), rep

    async def handle(self, delivery: Delivery) -> None:
        """`task_started`, then `run`. A failure no retry can change (`Permanent`, or the
        input's or ours by `runtime.worker.failures`; ours is logged with its trace) fails
        the open tasks for good and raises `Permanent` (the consumer terms it); the
        machine's publishes a retryable `task_failed` (with `retry_in_seconds`) for the open
        tasks and propagates (the consumer naks it with that delay; the last delivery ends
        in `on_failure`)."""
        found = await self.pending_work(delivery)
        if found is None:
            return
        work, rep = found
        with log_context(task=",".join(rep.tasks)):
            await self.room()
            await self._run_reported(work, rep, delivery)

    @property
    def work_root(self) -> Path:
        """The filesystem this service's job directories live on."""
        return work_root(self.settings.worker.work_dir)

    async def room(self, after_full: bool = False) -> float:
        """Wait until the work dir has `TFLOW_MIN_FREE_BYTES` free (a service whose tasks
        write to it, `uses_disk`); the seconds waited. The message is held meanwhile
        (heartbeats), so a full disk costs no delivery. `after_full`: an attempt just met
        a full disk and its job directory is gone, so what is free now did not suffice:
        twice that is waited for (at least `TFLOW_MIN_FREE_BYTES`) before the retry."""
        if not self.uses_disk:
            return 0.0
        need = self.settings.upkeep.min_free_bytes
        if after_full:
            need = max(need, 2 * await asyncio.to_thread(free_bytes, self.work_root))
        return await wait_for_space(self.service, self.work_root, need)

    async def discard(self, work: Work, rep: TaskReporter) -> None:
        """Remove what an attempt that failed stored for its unfinished tasks (a handler
        that stores as it goes, like the transcoder's progressive HLS, overrides it), so no
        partial output stays visible. Called before the failure is published."""

    async def _run_reported(self, work: Work, rep: TaskReporter, delivery: Delivery) -> None:
        await rep.started()
        try:
            await self.run(work, rep)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - classified and re-raised by _failed
            await self._failed(work, rep, delivery, await self._on_full_disk(e))

    async def _on_full_disk(self, e: Exception) -> Exception:
        """`e`, or an ENOSPC caused by it when the work dir is nearly full (`NEARLY_FULL_BYTES`):
        whatever ffmpeg made of a failed write (EIO, a muxer error), it is the machine's."""
        if classify(e).code == DISK_FULL or not self.uses_disk or isinstance(e, Permanent) \
                or await asyncio.to_thread(free_bytes, self.work_root) >= NEARLY_FULL_BYTES:
            return e
        full = OSError(errno.ENOSPC, f"the work dir is full ({e})")
        full.__cause__ = e
        return full

    async def _failed(self, work: Work, rep: TaskReporter, delivery: Delivery, e: Exception) -> None:
        """Report the attempt's failure `e` (classified), remove its partial outputs, wait
        for space after a full disk; re-raises `e` (a `Permanent` for a permanent one)."""
        found = classify(e)
        if found.blame is Blame.OURS:
            log.error("%s: internal error in %s: %s", self.service, ", ".join(rep.tasks), e, exc_info=e)
        elif not found.known:
            log.warning("%s: unclassified error in %s (retried)", self.service, ", ".join(rep.tasks), exc_info=e)
        reason = full_reason(e, self.work_root) if found.code == DISK_FULL else None
        try:
            await self.discard(work, rep)
        except Exception as gone:  # noqa: BLE001 - the next attempt overwrites the same keys
            log.warning("%s: could not remove the partial outputs of %s: %s", self.service, work.job_id, gone)
        if isinstance(e, Permanent) or found.permanent:
            await rep.failed(e, permanent=True)
            raise Permanent(found.reason) from e
        if not delivery.last:
            await rep.failed(e, permanent=False, retry_in=delivery.retry_in, reason=reason)
        if found.code == DISK_FULL:
            log.warning("%s: %s", self.service, reason)
            await self.room(after_full=True)  # the retry comes once space is back, not after the backoff alone
        raise e

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
