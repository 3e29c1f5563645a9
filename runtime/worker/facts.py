"""The two things a handler does with facts: publish one, and read a job's last fact of
a kind. `Facts` is that protocol; `JetStreamFacts` is it on the JOBS stream (publish
with `Nats-Msg-Id`, read back by subject filter, any priority band), `MemoryFacts` in memory with the same
dedupe rule (handler tests run on both)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

import msgspec
import nats.errors
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from contracts import (
    AnyJobEvent,
    Ingested,
    JobEvent,
    PlannedTask,
    Rejected,
    Replayed,
    TaskCompleted,
    TaskFailed,
    decode_job_event,
    encode,
    fact_filter,
    msg_id_for,
    subject_for,
)
from runtime.jetstream.connection import refused
from runtime.jetstream.retry import Permanent
from runtime.observability.metrics import EVENTS_PUBLISHED, observe_fact

#: The stream of every job fact (DESIGN.md).
JOBS_STREAM = "JOBS"
#: Seconds before the first retry of a publish or read the server did not answer,
#: doubling up to `RETRY_MAX_SECONDS`.
RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 8.0
#: Seconds a progress fact may take before it is dropped (the next sample says more).
PROGRESS_TIMEOUT_SECONDS = 2.0
#: What a server that is stalled, restarting or away answers with (nats-py).
AWAY = (nats.errors.TimeoutError, nats.errors.NoRespondersError, nats.errors.ConnectionClosedError,
        nats.errors.ConnectionReconnectingError, nats.errors.OutboundBufferLimitError, nats.errors.StaleConnectionError,
        TimeoutError, ConnectionError)
log = logging.getLogger(__name__)
T = TypeVar("T")


class Facts(Protocol):
    """Publish facts and read a job's facts back."""

    async def publish(self, event: JobEvent) -> bool:
        """Publish `event`; False when it was a duplicate (same `Nats-Msg-Id` seen)."""
        ...

    async def last(self, job_id: str, event_type: str, task: str | None = None) -> AnyJobEvent | None:
        """The job's last fact of `event_type` (for task facts: of `task`), or None."""
        ...


class JetStreamFacts:
    """`Facts` on the JOBS stream of a JetStream context, counted per `service`.

    `patience`: seconds a publish or read the server does not answer (a stalled,
    restarting or unreachable NATS: `AWAY`) is retried with backoff before its error is
    raised. The workers ride out an outage of any length (`math.inf`): every fact but
    progress carries a `Nats-Msg-Id`, so a publish the server stored but did not confirm
    is a duplicate when retried, never a second fact. Progress is never retried: one not
    confirmed within `PROGRESS_TIMEOUT_SECONDS` is dropped (the next sample says more),
    so an outage never holds up the work it reports on. The API and the CLI answer
    their callers (0: no retry)."""

    def __init__(self, js: JetStreamContext, service: str, patience: float = 0.0):
        self.js, self.service, self.patience = js, service, patience

    async def _patiently(self, what: str, call: Callable[[], Awaitable[T]], subject: str | None = None) -> T:
        deadline, delay = time.monotonic() + self.patience, RETRY_FIRST_SECONDS
        while True:
            sent = time.monotonic()
            try:
                return await call()
            except AWAY as e:
                if subject is not None and refused(self.js._nc, subject, sent):
                    raise Permanent(f"NATS refused this service a publish to {subject}: its role does not "
                                    "allow it") from e
                if time.monotonic() + delay > deadline:
                    raise
                log.warning("%s: NATS did not answer (%s); retrying in %.1fs", what, type(e).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)

    async def publish(self, event: JobEvent) -> bool:
        msg_id = msg_id_for(event)
        if msg_id is None:  # progress: best effort, never retried
            try:
                ack = await self.js.publish(subject_for(event), encode(event), timeout=PROGRESS_TIMEOUT_SECONDS)
            except AWAY as e:
                log.info("progress of %s not published (%s); dropped", event.job_id, type(e).__name__)
                return False
        else:
            subject = subject_for(event)
            ack = await self._patiently(f"publishing {msg_id}", lambda: self.js.publish(
                subject, encode(event), headers={"Nats-Msg-Id": msg_id}), subject)
        EVENTS_PUBLISHED.labels(self.service, type(event).__struct_config__.tag).inc()
        if not ack.duplicate:
            observe_fact(self.service, event)  # type: ignore[arg-type]  # every JobEvent is in the union
        return not ack.duplicate

    async def last(self, job_id: str, event_type: str, task: str | None = None) -> AnyJobEvent | None:
        subject = fact_filter(job_id, event_type, task)
        try:
            msg = await self._patiently(f"reading {subject}", lambda: self.js.get_last_msg(JOBS_STREAM, subject))
        except NotFoundError:
            return None
        return decode_job_event(msg.data) if msg.data is not None else None


class MemoryFacts:
    """`Facts` in memory: the last fact per subject, duplicates by `Nats-Msg-Id`
    dropped as the stream's duplicate window would."""

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._last: dict[str, AnyJobEvent] = {}

    async def publish(self, event: JobEvent) -> bool:
        subject_for(event)  # what JetStream would be given: a banded fact without a priority raises
        msg_id = msg_id_for(event)
        if msg_id is not None and msg_id in self._ids:
            return False
        if msg_id is not None:
            self._ids.add(msg_id)
        tag = str(type(event).__struct_config__.tag)
        task = getattr(event, "task", None)
        self._last[fact_filter(event.job_id, tag, task if isinstance(task, str) else None)] = \
            decode_job_event(encode(event))  # as a reader would see it
        return True

    async def last(self, job_id: str, event_type: str, task: str | None = None) -> AnyJobEvent | None:
        return self._last.get(fact_filter(job_id, event_type, task))


async def ingested(facts: Facts, job_id: str) -> Ingested:
    """The job's `ingested` fact. Raises `Permanent` if there is none, or what stands in
    its place does not decode (nothing to do)."""
    try:
        event = await facts.last(job_id, "ingested")
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise Permanent(f"job {job_id}: its ingested fact does not decode: {e}") from e
    if not isinstance(event, Ingested):
        raise Permanent(f"job {job_id} has no ingested fact")
    return event


async def replay(facts: Facts, job_id: str) -> Replayed | None:
    """The job's last `replayed` fact (it holds the epoch of every task), or None."""
    event = await facts.last(job_id, "replayed")
    return event if isinstance(event, Replayed) else None


def required_epoch(last_replay: Replayed | None, task: str) -> int:
    """The epoch `task` must complete in: 1 unless a replay named it."""
    return last_replay.required(task) if last_replay is not None else 1


async def completed(facts: Facts, job_id: str, task: str, last_replay: Replayed | None | bool = True
                    ) -> TaskCompleted | None:
    """The task's completion fact of its current epoch, or None (never completed, or only
    in an epoch a replay has since superseded). `last_replay`: the job's last `replayed`
    fact when the caller has it (None: never replayed); True reads it."""
    event = await facts.last(job_id, "task_completed", task)
    if not isinstance(event, TaskCompleted):
        return None
    if last_replay is True:
        last_replay = await replay(facts, job_id)
    current = required_epoch(last_replay if isinstance(last_replay, Replayed) else None, task)
    return event if event.epoch >= current else None


async def failed_permanently(facts: Facts, job_id: str, task: str) -> bool:
    """Whether the task's last failure fact is permanent, in the task's current epoch."""
    event = await facts.last(job_id, "task_failed", task)
    if not (isinstance(event, TaskFailed) and event.permanent):
        return False
    return event.epoch >= required_epoch(await replay(facts, job_id), task)


async def pending(facts: Facts, job_id: str, tasks: list[PlannedTask], last_replay: Replayed | None = None
                  ) -> list[PlannedTask]:
    """The tasks without a completion fact of their current epoch yet (a redelivered
    message redoes only those)."""
    return [t for t in tasks if await completed(facts, job_id, t.name, last_replay) is None]


async def verdict(facts: Facts, job_id: str) -> Ingested | Rejected | None:
    """Ingest's verdict on a job (`ingested` or `rejected`), or None while there is none."""
    for event_type in ("ingested", "rejected"):
        event = await facts.last(job_id, event_type)
        if isinstance(event, Ingested | Rejected):
            return event
    return None
