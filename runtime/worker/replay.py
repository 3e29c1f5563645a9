"""Replays: re-running a whole job, or some of its tasks, through the normal consumers
as a new epoch (`tflow replay`, a dead letter re-driven). `replay_tasks` and
`plan_replay` are pure; `request_replay` publishes the `replayed` fact."""

from __future__ import annotations

from typing import Any

import msgspec

from contracts import Cancelled, Deleted, Ingested, JobOptions, PlannedTask, Replayed, layout, utcnow
from runtime.jetstream.retry import Permanent
from runtime.worker.facts import Facts, ingested, replay


class ReplayRefused(ValueError):
    """The replay cannot be done as asked (unknown task, a cancelled job, no such job)."""


class NoSuchJob(ReplayRefused):
    """The job was never ingested (unknown, or rejected): there is nothing to replay."""


def replay_tasks(plan: list[PlannedTask], asked: list[str] | None) -> list[str]:
    """The tasks a replay of `asked` (None or empty: the whole job) re-runs, in plan
    order: the ones asked, the MP4 an HLS rendition is cut from, the HLS cut from a
    replayed MP4, and `metadata`, which summarises every other task. Raises
    `ReplayRefused` for a task the plan does not have."""
    names = [t.name for t in plan]
    if not asked:
        return names
    unknown = sorted(set(asked) - set(names))
    if unknown:
        raise ReplayRefused(f"the job has no task {', '.join(unknown)} (its tasks: {', '.join(names)})")
    chosen = set(asked)
    for t in plan:
        if t.rendition and (layout.hls_task(t.rendition) in chosen or layout.video_task(t.rendition) in chosen):
            chosen |= {n for n in (layout.video_task(t.rendition), layout.hls_task(t.rendition)) if n in names}
    if layout.METADATA_TASK in names:
        chosen.add(layout.METADATA_TASK)
    return [n for n in names if n in chosen]


def plan_replay(job: Ingested, last: Replayed | None, asked: list[str] | None, options: dict[str, Any],
                reason: str, by: str | None) -> Replayed:
    """The `replayed` fact of the next epoch: `asked` expanded by `replay_tasks`, every
    task's epoch carried over from `last` (the job's previous replay), the job's options
    with `options` (JobOptions fields, e.g. `whisper_model`) applied."""
    epoch = (last.epoch if last is not None else 1) + 1
    tasks = replay_tasks(job.plan, asked)
    epochs = {**(last.epochs if last is not None else {}), **dict.fromkeys(tasks, epoch)}
    base = last.options if last is not None else job.options
    try:
        merged = msgspec.structs.replace(base, **options) if options else base
        merged = msgspec.convert(msgspec.to_builtins(merged), JobOptions)
    except (TypeError, msgspec.ValidationError) as e:
        raise ReplayRefused(f"invalid options: {e}") from e
    return Replayed(job_id=job.job_id, at=utcnow(), epoch=epoch, tasks=tasks, epochs=epochs, options=merged,
                    reason=reason, by=by)


async def request_replay(facts: Facts, job_id: str, asked: list[str] | None = None,
                         options: dict[str, Any] | None = None, reason: str = "replay",
                         by: str | None = None) -> Replayed:
    """Publish the next epoch of job `job_id` (see `plan_replay`); returns the fact.
    Raises `NoSuchJob` when the job has no `ingested` fact, `ReplayRefused` when it was
    cancelled or deleted, or a task is unknown."""
    try:
        job = await ingested(facts, job_id)
    except Permanent as e:  # no such (accepted) job
        raise NoSuchJob(f"job {job_id} was never ingested; nothing to replay") from e
    if isinstance(await facts.last(job_id, "deleted"), Deleted):
        raise ReplayRefused(f"job {job_id} was deleted; submit the source again instead")
    if isinstance(await facts.last(job_id, "cancelled"), Cancelled):
        raise ReplayRefused(f"job {job_id} was cancelled; submit the source again instead")
    fact = plan_replay(job, await replay(facts, job_id), asked, options or {}, reason, by)
    await facts.publish(fact)
    return fact
