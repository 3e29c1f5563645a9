"""Subjects of job facts (DESIGN.md: `jobs.<job_id>.<event>[.<detail>]`) and their
priority bands.

A fact that asks for work carries its job's priority (PRD FR-5.2: 1 low .. 10 critical)
as its last token, `p01` .. `p10`: `ingested` and `replayed` (they start the media work)
and `task_completed` (a rendition's completion starts its packaging). Every other fact
has no band. A worker's durable is split into one consumer per band, which it drains
highest first (`runtime.jetstream.definitions`): priorities are JetStream subjects, not a scheduler.

The finalizer reads the completions again from the `FINALIZE` stream, whose subjects
JetStream derives as `finalize.<partition>.<job_id>.…` (`contracts/nats/streams/FINALIZE.json`):
one job always lands in the same partition, so its facts are finalized in order while
other partitions run in parallel.
"""

from __future__ import annotations

from contracts.events import Ingested, JobEvent, Replayed, TaskCompleted

__all__ = ["PRIORITIES", "BANDED_EVENTS", "band", "band_priority", "fact_subject", "fact_filter", "subject_for",
           "priority_of", "job_of_subject"]

#: Every priority, lowest first (PRD FR-5.2).
PRIORITIES = range(1, 11)

#: The fact types whose subject ends in the job's priority band.
BANDED_EVENTS = frozenset({"ingested", "replayed", "task_completed"})


def band(priority: int) -> str:
    """The subject token of `priority`: `p01` .. `p10` (two digits, so they sort). Raises
    ValueError outside 1..10."""
    if priority not in PRIORITIES:
        raise ValueError(f"priority must be from 1 to 10, got {priority!r}")
    return f"p{priority:02d}"


def band_priority(token: str) -> int | None:
    """The priority of a band token (`p07` -> 7), or None when `token` is not one."""
    if len(token) == 3 and token[0] == "p" and token[1:].isdigit() and int(token[1:]) in PRIORITIES:
        return int(token[1:])
    return None


def fact_subject(job_id: str, event_type: str, task: str | None = None, priority: int | None = None) -> str:
    """The subject a fact is published on: `jobs.<job_id>.<type>[.<task>]`, plus its band
    (`.p<NN>`) for the types of `BANDED_EVENTS`. Raises ValueError when a banded type has
    no priority."""
    subject = f"jobs.{job_id}.{event_type}" + (f".{task}" if task else "")
    if event_type in BANDED_EVENTS:
        if priority is None:
            raise ValueError(f"a {event_type} fact needs its job's priority")
        subject += f".{band(priority)}"
    return subject


def fact_filter(job_id: str, event_type: str, task: str | None = None) -> str:
    """The subject filter of a job's facts of `event_type` (and `task`) in any band: what
    `get_last_msg` reads them back with."""
    subject = f"jobs.{job_id}.{event_type}" + (f".{task}" if task else "")
    return subject + ".*" if event_type in BANDED_EVENTS else subject


def priority_of(event: JobEvent) -> int | None:
    """The priority a fact's subject carries: the job's options for `ingested`/`replayed`,
    the field for `task_completed`; None for the other types."""
    if isinstance(event, Ingested | Replayed):
        return event.options.priority
    if isinstance(event, TaskCompleted):
        return event.priority
    return None


def subject_for(event: JobEvent) -> str:
    """The subject of a fact (`fact_subject` of its job, type, task and priority)."""
    task = getattr(event, "task", None)
    return fact_subject(event.job_id, str(type(event).__struct_config__.tag), task if isinstance(task, str) else None,
                        priority_of(event))


def job_of_subject(subject: str) -> str | None:
    """The job id token of `jobs.<id>.<type>…` or of the finalizer's derived
    `finalize.<partition>.<id>.<type>…`, else None."""
    parts = subject.split(".")
    if parts[0] == "jobs" and len(parts) > 2:
        return parts[1]
    if parts[0] == "finalize" and len(parts) > 3:
        return parts[2]
    return None
