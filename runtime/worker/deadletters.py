"""Dead letters: the `DLQ` stream captures JetStream's max-deliveries and
terminated-message advisories (`contracts.advisories`). Each service follows its own
consumers' dead letters (`dead_<durable>`, `DeadLetterHandler`) and turns each into a
failure fact naming its task, so a message whose worker died on its last delivery never
leaves a job `processing` forever. `list_dead_letters` and `redrive` serve
`tflow dlq list|retry` and the admin API."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import msgspec
from nats.js import JetStreamContext
from nats.js.errors import BadRequestError, NotFoundError

from contracts import (
    DLQ_STREAM,
    Advisory,
    ObjectAnnounced,
    ObjectRef,
    announce_subject,
    created_objects,
    decode_advisory,
    decode_announcement,
    decode_s3_notification,
    encode,
    job_id_for,
    job_of_subject,
    utcnow,
)
from runtime.jetstream.delivery import Delivery
from runtime.jetstream.retry import Permanent
from runtime.observability.metrics import DEAD_LETTERS
from runtime.worker.facts import Facts, completed, ingested
from runtime.worker.replay import NoSuchJob, request_replay

log = logging.getLogger(__name__)


class DeadLettered(RuntimeError):
    """A message exhausted `max_deliver` without ever being acknowledged: the worker died
    (out of memory, `kill -9`) or hung on each delivery."""


def dead_durable(durable: str) -> str:
    """The DLQ consumer that follows `durable`'s dead letters."""
    return f"dead_{durable}"


class DeadLetterHandler:
    """`handle` for a `ConsumerLoop` on `DLQ/dead_<durable>`: the advisory's original
    message is read back from its stream and handed to the consumer's own `on_failure`
    as its last delivery (a `DeadLettered` error for max-deliveries; for a terminated
    message the worker's failure facts exist already and the same ones are deduplicated
    by their message ids). Counted in `tflow_dead_letters_total`."""

    def __init__(self, js: JetStreamContext, on_failure: Callable[[Delivery, BaseException], Awaitable[None]]):
        self.js, self.consumer_failure = js, on_failure

    async def handle(self, delivery: Delivery) -> None:
        try:
            adv = decode_advisory(delivery.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as e:
            raise Permanent(f"not an advisory: {e}") from e
        DEAD_LETTERS.labels(adv.stream, adv.consumer, adv.kind).inc()
        try:
            original = await self.js.get_msg(adv.stream, adv.stream_seq)
        except NotFoundError:
            log.warning("dead letter %s/%s #%d is no longer in its stream", adv.stream, adv.consumer, adv.stream_seq)
            return
        error: BaseException = DeadLettered(
            f"gave up after {adv.deliveries} deliveries without an acknowledgement "
            "(the worker died or hung on each)") if adv.kind == "max_deliveries" else \
            RuntimeError(f"terminated after {adv.deliveries} deliveries")
        log.warning("dead letter: %s/%s #%d (%s) after %d deliveries", adv.stream, adv.consumer, adv.stream_seq,
                    adv.kind, adv.deliveries)
        await self.consumer_failure(Delivery(subject=original.subject or "", data=original.data or b"",
                                             attempt=adv.deliveries, last=True), error)

    async def on_failure(self, delivery: Delivery, error: BaseException) -> None:
        """A dead letter that cannot be handled (not an advisory) is logged: it stays in DLQ."""
        log.error("cannot handle DLQ message %s: %s", delivery.subject, error)


@dataclass(frozen=True)
class DeadLetter:
    """One entry of DLQ: its sequence (the id `tflow dlq retry` takes), the advisory, and
    the original message's subject when it is still in its stream."""

    seq: int
    at: datetime
    advisory: Advisory
    subject: str | None
    data: bytes | None

    @property
    def job_id(self) -> str | None:
        """The job of the original (`contracts.job_of_subject`), else None."""
        return job_of_subject(self.subject or "")


async def read_dead_letter(js: JetStreamContext, seq: int) -> DeadLetter:
    """DLQ entry `seq` with its original message. Raises `LookupError` if there is none."""
    try:
        msg = await js.get_msg(DLQ_STREAM, seq)
    except (NotFoundError, BadRequestError) as e:
        raise LookupError(f"no dead letter {seq}") from e
    adv = decode_advisory(msg.data or b"")
    try:
        original = await js.get_msg(adv.stream, adv.stream_seq)
        subject, data = original.subject, original.data
    except NotFoundError:
        subject, data = None, None
    return DeadLetter(seq=seq, at=adv.timestamp, advisory=adv, subject=subject, data=data)


async def list_dead_letters(js: JetStreamContext, limit: int = 100) -> tuple[int, list[DeadLetter]]:
    """`(how many DLQ holds, its newest `limit` entries, newest first)`."""
    info = await js.stream_info(DLQ_STREAM)
    state = info.state
    out: list[DeadLetter] = []
    seq = state.last_seq
    while seq >= max(state.first_seq, 1) and len(out) < limit:
        try:
            out.append(await read_dead_letter(js, seq))
        except (LookupError, msgspec.DecodeError, msgspec.ValidationError):
            pass  # deleted or not an advisory
        seq -= 1
    return state.messages, out


async def redrive(js: JetStreamContext, facts: Facts, seq: int, by: str | None = None) -> str:
    """Re-drive dead letter `seq` through the normal consumers; returns what was done.
    A job fact's: a replay of the job's unfinished tasks (`runtime.worker.replay`); an object
    announcement's: announced again (ingest then examines it anew). Raises `LookupError`
    (no such entry, or its original is gone) or `runtime.worker.replay.ReplayRefused` (`NoSuchJob`
    for a fact of a job that was never ingested)."""
    letter = await read_dead_letter(js, seq)
    if letter.subject is None or letter.data is None:
        raise LookupError(f"dead letter {seq}: its message left {letter.advisory.stream} (max_age)")
    if letter.job_id is not None:
        try:
            job = await ingested(facts, letter.job_id)
        except Permanent as e:  # a poison fact of a job that never was: nothing to re-run
            raise NoSuchJob(f"dead letter {seq}: job {letter.job_id} was never ingested; nothing to re-drive") from e
        unfinished = [t.name for t in job.plan if await completed(facts, job.job_id, t.name) is None]
        fact = await request_replay(facts, job.job_id, unfinished or None, reason=f"dlq {seq}", by=by)
        return f"job {job.job_id}: replay epoch {fact.epoch} of {', '.join(fact.tasks)}"
    refs = announced_refs(letter.subject, letter.data)
    for ref in refs:
        note = ObjectAnnounced(object=ref, origin="api", at=utcnow())
        await js.publish(announce_subject("api"), encode(note),
                         headers={"Nats-Msg-Id": f"redrive.{seq}.{job_id_for(ref)}"})
    return f"announced again: {', '.join(r.key for r in refs)}"


def announced_refs(subject: str, data: bytes) -> list[ObjectRef]:
    """The objects of a MINIO-stream message (our announcement or MinIO's notification)."""
    if subject.startswith("minio.announce."):
        return [decode_announcement(data).object]
    return [ref for _, ref in created_objects(decode_s3_notification(data))]
