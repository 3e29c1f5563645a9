"""The projection as a pure fold: (job state, fact) -> job state. No I/O here.

Rules (DESIGN.md, PRD job statuses):
- `received` -> job `validating`; `ingested` -> `pending` with one `pending` task per
  planned task; `rejected` -> `failed` with the reason.
- first `task_started` -> job `processing`; every planned task `completed` -> job
  `completed`; a permanent `task_failed` -> job `failed` naming the task and reason.
- an `optional` task's permanent failure is recorded on the task only.
- job progress = mean of the planned tasks' progress; `current_task` = first task
  of the plan that is processing.
- every timestamp is the fact's `at`, so replaying the stream reproduces the rows.
- `cancelled` ends a non-terminal job `cancelled` and its unfinished tasks with it.
- `deleted` makes any job `deleted` (its unfinished tasks `cancelled`): it leaves listings.
- a terminal job (completed/failed/cancelled) keeps its status; late task facts
  still update their task rows.
- an object ingest gave up on (`rejected` `ingest_failed`) re-opens on a later
  `received`/`ingested` (a dead letter re-driven).
- `replayed` (epoch N) re-opens the job (`pending`, error cleared) and resets the tasks
  it names to `pending` in their new epoch; a task fact of an older epoch than its
  task's is stale and ignored (a late progress or failure of the replaced run).
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from contracts import (
    AnyJobEvent,
    Cancelled,
    Deleted,
    Ingested,
    OriginalRemoved,
    Received,
    Rejected,
    Replayed,
    TaskCompleted,
    TaskFailed,
    TaskProgress,
    TaskStarted,
    TranscriptResult,
    TranscriptText,
    layout,
)
from readmodel.rows import TERMINAL, JobRow, JobState, TaskRow, probe_columns


def _new_job(event: Received | Ingested | Rejected, status: str) -> JobRow:
    src = event.source
    return JobRow(
        id=event.job_id,
        status=status,
        origin=event.origin,
        source_bucket=src.bucket,
        source_key=src.key,
        source_etag=src.etag,
        source_version_id=src.version_id,
        original_filename=src.key.rsplit("/", 1)[-1],
        file_size_bytes=src.size,
        api_key_id=layout.tenant_of(src.key),  # a tenant sees its job from the first fact, rejected ones too
        created_at=event.at,
        updated_at=event.at,
    )


#: The `rejected` code of an object ingest gave up on: a re-drive may still ingest it.
GAVE_UP = "ingest_failed"


def _reopen_if_given_up(state: JobState) -> None:
    job = state.job
    if job.status == "failed" and job.error_code == GAVE_UP:
        job.status, job.completed_at, job.error_code, job.error_message = "validating", None, None, None


def _apply_ingested(state: JobState | None, e: Ingested) -> JobState:
    if state is None:
        state = JobState(_new_job(e, "validating"), {})
    _reopen_if_given_up(state)
    job = state.job
    if job.status not in ("validating", "pending"):
        return state
    for column, value in probe_columns(e.probe).items():
        setattr(job, column, value)
    job.probe = msgspec.to_builtins(e.probe)
    job.plan = msgspec.to_builtins(e.plan)
    job.user_metadata = e.user_metadata
    o = e.options
    job.priority, job.webhook_url, job.api_key_id = o.priority, o.webhook_url, o.api_key_id
    job.transcription_language, job.whisper_model = o.transcription_language, o.whisper_model
    job.status = "pending" if e.plan else "completed"
    if not e.plan:
        job.completed_at, job.progress_percent = e.at, 100.0
    for t in e.plan:
        state.tasks.setdefault(
            t.name, TaskRow(job_id=job.id, name=t.name, kind=t.kind, rendition=t.rendition, updated_at=e.at)
        )
    return state


def _task(state: JobState, name: str, at: datetime) -> TaskRow:
    if name not in state.tasks:
        state.tasks[name] = TaskRow(job_id=state.job.id, name=name, kind="unplanned", updated_at=at)
    return state.tasks[name]


def _planned(state: JobState) -> list[TaskRow]:
    names = [t["name"] for t in state.job.plan]
    return [state.tasks[n] for n in names if n in state.tasks]


def _roll_up(state: JobState, at: datetime) -> None:
    job = state.job
    planned = _planned(state)
    if planned:
        job.progress_percent = round(sum(t.progress_percent for t in planned) / len(planned), 2)
        job.current_task = next((t.name for t in planned if t.status == "processing"), None)
    if job.status in TERMINAL:
        job.current_task = None
        return
    optional = {t["name"] for t in job.plan if t.get("optional")}
    if planned and all(t.status == "completed" or (t.name in optional and t.status == "failed") for t in planned):
        job.status, job.completed_at, job.progress_percent = "completed", at, 100.0


def _apply_replayed(state: JobState, e: Replayed) -> JobState:
    job = state.job
    job.epoch = max(job.epoch, e.epoch)
    job.status, job.completed_at, job.current_task = "pending", None, None
    job.error_code = job.error_message = None
    o = e.options
    job.priority, job.transcription_language, job.whisper_model = o.priority, o.transcription_language, o.whisper_model
    for name in e.tasks:
        task = _task(state, name, e.at)
        task.epoch = e.required(name)
        task.status, task.progress_percent, task.speed, task.eta_seconds = "pending", 0.0, None, None
        task.error_code = task.error_message = None
        task.attempts, task.completed_at, task.updated_at = 0, None, e.at
    _roll_up(state, e.at)
    return state


def _apply_task(state: JobState, e: TaskStarted | TaskProgress | TaskCompleted | TaskFailed) -> JobState:
    job, task = state.job, _task(state, e.task, e.at)
    if e.epoch < task.epoch:
        return state  # a fact of a run a replay has replaced
    task.updated_at = e.at
    if job.status == "cancelled" and task.status == "cancelled":
        return state
    if isinstance(e, TaskStarted):
        if task.status not in ("completed",):
            task.status = "processing"
        task.attempts = max(task.attempts, e.attempt)
        task.worker = e.worker or task.worker
        task.started_at = task.started_at or e.at
        if job.status in ("pending", "validating"):
            job.status = "processing"
        job.started_at = job.started_at or e.at
    elif isinstance(e, TaskProgress):
        if task.status in ("pending", "processing"):
            task.status = "processing"
            task.progress_percent = max(0.0, min(100.0, e.percent))
            task.speed, task.eta_seconds = e.speed, e.eta_seconds
    elif isinstance(e, TaskCompleted):
        task.status, task.progress_percent, task.eta_seconds = "completed", 100.0, 0.0
        task.outputs = [msgspec.to_builtins(o) for o in e.outputs]
        task.details = msgspec.to_builtins(e.result) if e.result is not None else {}
        task.processing_seconds = e.seconds
        task.completed_at = e.at
        task.error_code = task.error_message = None
        job.outputs = {**job.outputs, e.task: task.outputs}
        if isinstance(e.result, TranscriptResult):
            job.transcription_language, job.word_count = e.result.language, e.result.word_count
            job.whisper_model = e.result.model
    elif isinstance(e, TaskFailed):
        task.attempts = max(task.attempts, e.attempt)
        if task.status == "completed" and not e.permanent:
            _roll_up(state, e.at)
            return state  # a retry announced by an attempt whose work had landed: no error to show
        task.error_code, task.error_message = e.code, e.message
        optional = any(t["name"] == e.task and t.get("optional") for t in job.plan)
        if e.permanent:
            task.status, task.completed_at = "failed", e.at
            if job.status not in TERMINAL and not optional:
                job.status, job.completed_at = "failed", e.at
                job.error_code, job.error_message = e.code, f"task {e.task} failed: {e.message}"
        elif task.status != "completed":
            task.status = "pending"
    _roll_up(state, e.at)
    return state


def apply(state: JobState | None, event: AnyJobEvent, seq: int) -> JobState | None:
    """Fold one fact (stream sequence `seq`) into a job's state; None stays None for task
    facts of an unknown job (nothing to attach them to)."""
    if isinstance(event, Received):
        if state is None:
            state = JobState(_new_job(event, "validating"), {})
        _reopen_if_given_up(state)
    elif isinstance(event, Ingested):
        state = _apply_ingested(state, event)
    elif isinstance(event, Rejected):
        if state is None:
            state = JobState(_new_job(event, "validating"), {})
        if state.job.status not in TERMINAL:
            job = state.job
            job.status, job.completed_at = "failed", event.at
            job.error_code, job.error_message = event.code, event.message
    elif isinstance(event, Cancelled):
        if state is None:
            return None
        job = state.job
        if job.status not in TERMINAL:
            job.status, job.completed_at, job.current_task = "cancelled", event.at, None
            job.error_code, job.error_message = "cancelled", event.reason or "cancelled by request"
            for t in state.tasks.values():
                if t.status in ("pending", "processing"):
                    t.status, t.updated_at, t.eta_seconds = "cancelled", event.at, None
    elif isinstance(event, Replayed):
        if state is None:
            return None
        state = _apply_replayed(state, event)
    elif isinstance(event, Deleted):
        if state is None:
            return None
        job = state.job
        job.status, job.completed_at, job.current_task = "deleted", job.completed_at or event.at, None
        for t in state.tasks.values():
            if t.status in ("pending", "processing"):
                t.status, t.updated_at, t.eta_seconds = "cancelled", event.at, None
    elif isinstance(event, OriginalRemoved):
        if state is None:
            return None
        state.job.original_removed_at = event.at
    elif isinstance(event, TranscriptText):
        if state is None:  # its lines are stored beside the state (`readmodel.search`)
            return None
    else:
        if state is None:
            return None
        state = _apply_task(state, event)
    state.job.updated_at = max(state.job.updated_at, event.at)
    state.job.last_seq = seq
    return state


def timeline_entry(event: AnyJobEvent) -> tuple[str, str | None, str] | None:
    """`(type, task, one-line summary)` of a fact for the job's timeline; None for
    progress (too many, and the task rows hold the latest)."""
    tag = str(type(event).__struct_config__.tag)
    if isinstance(event, TaskProgress):
        return None
    if isinstance(event, Received):
        return tag, None, f"{event.source.key} ({event.source.size} bytes) via {event.origin}"
    if isinstance(event, Ingested):
        return tag, None, f"valid source: {len(event.plan)} tasks planned"
    if isinstance(event, Rejected):
        return tag, None, f"{event.code}: {event.message}"
    if isinstance(event, TaskStarted):
        return tag, event.task, f"attempt {event.attempt} on {event.worker}"
    if isinstance(event, TaskCompleted):
        took = f" in {event.seconds:.2f}s" if event.seconds is not None else ""
        return tag, event.task, f"{len(event.outputs)} outputs{took}"
    if isinstance(event, TaskFailed):
        retry = "permanent" if event.permanent else f"retry in {event.retry_in_seconds or 0:.0f}s"
        return tag, event.task, f"{event.code}: {event.message[:300]} ({retry})"
    if isinstance(event, TranscriptText):
        return tag, event.task, f"part {event.part + 1}/{event.parts}: {len(event.lines)} lines ({event.language})"
    if isinstance(event, OriginalRemoved):
        return tag, None, f"original removed by {event.by or 'retention'}"
    if isinstance(event, Cancelled | Deleted):
        return tag, None, (getattr(event, "reason", "") or "") + (f" by {event.by}" if event.by else "")
    if isinstance(event, Replayed):
        return tag, None, f"epoch {event.epoch}: {', '.join(event.tasks)} ({event.reason})"
    return tag, None, tag
