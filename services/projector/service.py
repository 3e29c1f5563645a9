"""projector: folds `jobs.>` into Postgres in stream order, in batches.

It reads JOBS with an *ordered* consumer that starts at the checkpoint stored in
Postgres (`projector_checkpoint.last_seq + 1`), not with a durable: the read model
itself remembers how far it got, in the same transaction as the rows, so a restart
resumes exactly and a rewound checkpoint (rebuild) replays. Several projector
replicas are safe: each batch locks the checkpoint row and applies only facts
after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence

import asyncpg
import msgspec
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from contracts import TranscriptText, decode_job_event, job_of_subject
from readmodel import projection as pstore
from readmodel import search
from readmodel.db import UNAVAILABLE
from readmodel.rows import JobState
from runtime.observability.metrics import MESSAGES, PROCESSING_SECONDS, SET_ASIDE
from runtime.worker.facts import JOBS_STREAM
from services.projector import NAME, fold

log = logging.getLogger(__name__)
SERVICE = NAME
BATCH = 512


class Rewound(Exception):
    """The checkpoint went backwards under us (a rebuild): re-subscribe from it."""


async def apply_batch(pool: asyncpg.Pool, msgs: Sequence[Msg], *, fresh: bool) -> int:
    """`_apply_batch`, then `transcode_processing_time_seconds` of the jobs it completed."""
    last, finished = await _apply_batch(pool, msgs, fresh=fresh)
    for seconds in finished:
        PROCESSING_SECONDS.observe(seconds)
    return last


async def _apply_batch(pool: asyncpg.Pool, msgs: Sequence[Msg], *, fresh: bool) -> tuple[int, list[float]]:
    """Apply a batch of JOBS messages (stream order) in one transaction; returns the checkpoint
    and the processing seconds of the jobs it completed.

    `fresh`: the first batch of a consumer started at checkpoint+1, where a gap in
    sequences means missing (expired/deleted) facts rather than a rewind.
    Raises `Rewound` when the stored checkpoint is behind the batch and the batch is not fresh.
    """
    async with pool.acquire() as conn, conn.transaction():
        last = await pstore.lock_checkpoint(conn)
        todo = [m for m in msgs if m.metadata.sequence.stream > last]
        if not todo:
            return last, []
        if todo[0].metadata.sequence.stream > last + 1 and not fresh:
            raise Rewound(f"checkpoint {last}, batch starts at {todo[0].metadata.sequence.stream}")
        decoded = []
        for m in todo:
            try:
                decoded.append((m.metadata.sequence.stream, decode_job_event(m.data)))
            except (msgspec.DecodeError, msgspec.ValidationError) as e:
                MESSAGES.labels(SERVICE, "undecodable").inc()
                SET_ASIDE.inc()
                log.error("setting aside undecodable fact seq=%s subject=%s: %s", m.metadata.sequence.stream,
                          m.subject, e)
                await pstore.record_failure(conn, seq=m.metadata.sequence.stream, subject=m.subject,
                                            job_id=_job_of(m.subject), error=f"undecodable: {e}", data=m.data)
        job_ids = sorted({e.job_id for _, e in decoded})
        states: dict[str, JobState | None] = dict(await pstore.load_states(conn, job_ids=job_ids))
        before = {jid: (s.job.status, s.job.api_key_id) for jid, s in states.items() if s is not None}
        timeline = []
        for seq, event in decoded:
            states[event.job_id] = state = fold.apply(states.get(event.job_id), event, seq)
            if state is None:
                continue
            entry = fold.timeline_entry(event)
            if entry is not None:
                timeline.append((uuid.UUID(event.job_id), seq, event.at, *entry))
            if isinstance(event, TranscriptText):
                await search.save_transcript(conn, event)
        await search.save_facts(conn, timeline)
        new_last = todo[-1].metadata.sequence.stream
        await pstore.save_states(conn, states=[s for s in states.values() if s is not None], last_seq=new_last,
                                 before=before)
        MESSAGES.labels(SERVICE, "applied").inc(len(todo))
        finished = [(s.job.completed_at - s.job.created_at).total_seconds() for jid, s in states.items()
                    if s is not None and s.job.status == "completed" and s.job.completed_at is not None
                    and before.get(jid, ("", None))[0] != "completed"]
        return new_last, finished




async def apply_or_set_aside(pool: asyncpg.Pool, msgs: Sequence[Msg], *, fresh: bool) -> int:
    """`apply_batch`, with a safety net: when the batch fails for a reason other than the
    database being away, its facts are applied one per transaction and any fact that still
    fails is set aside (`projection_failures`, counted, logged) so it never blocks the facts
    after it. Returns the checkpoint."""
    try:
        return await apply_batch(pool, msgs, fresh=fresh)
    except Rewound:
        raise
    except UNAVAILABLE:
        raise
    except Exception as e:  # noqa: BLE001 - one bad fact must not stop the read model
        if len(msgs) > 1:
            log.warning("batch of %d facts failed (%s); applying them one by one", len(msgs), e)
            last = 0
            for i, m in enumerate(msgs):
                last = await apply_or_set_aside(pool, [m], fresh=fresh and i == 0)
            return last
        m = msgs[0]
        seq = m.metadata.sequence.stream
        async with pool.acquire() as conn:
            if await pstore.set_aside(conn, seq=seq, subject=m.subject, job_id=_job_of(m.subject),
                                      error=f"{type(e).__name__}: {e}", data=m.data):
                MESSAGES.labels(SERVICE, "set_aside").inc()
                SET_ASIDE.inc()
                log.error("set aside fact seq=%s subject=%s: %s: %s", seq, m.subject, type(e).__name__, e)
            return await pstore.read_checkpoint(conn)


def _job_of(subject: str) -> str | None:
    """The job id of a `jobs.<id>.…` subject when it is a UUID, else None."""
    token = job_of_subject(subject)
    if token is None:
        return None
    try:
        return str(uuid.UUID(token))
    except ValueError:
        return None


async def _subscribe(js: JetStreamContext, start_seq: int) -> JetStreamContext.PushSubscription:
    if start_seq <= 1:
        cfg = ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
    else:
        cfg = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start_seq)
    return await js.subscribe("jobs.>", stream=JOBS_STREAM, ordered_consumer=True, config=cfg,
                              pending_msgs_limit=65536)


async def _next_batch(sub: JetStreamContext.PushSubscription, timeout: float) -> list[Msg]:
    try:
        first = await sub.next_msg(timeout=timeout)
    except TimeoutError:
        return []
    batch = [first]
    while len(batch) < BATCH and sub.pending_msgs > 0:
        batch.append(await sub.next_msg(timeout=1.0))
    return batch


async def project(js: JetStreamContext, pool: asyncpg.Pool, stop: asyncio.Event,
                  until_seq: int | None = None) -> int:
    """Fold the stream into Postgres until `stop` is set (or, when `until_seq` is given,
    until the checkpoint reaches it). Returns the final checkpoint."""
    last = await pstore.read_checkpoint(pool)
    while not stop.is_set() and (until_seq is None or last < until_seq):
        sub = await _subscribe(js, last + 1)
        fresh, seen = True, last
        try:
            while not stop.is_set() and (until_seq is None or last < until_seq):
                batch = await _next_batch(sub, timeout=1.0)
                if not batch:
                    last = await pstore.read_checkpoint(pool)
                    if last < seen:  # rewound while idle: our consumer is past it
                        break
                    continue
                seen = batch[-1].metadata.sequence.stream
                last = await apply_or_set_aside(pool, batch, fresh=fresh)
                fresh = False
        except Rewound as e:
            log.info("re-subscribing: %s", e)
            last = await _checkpoint_when_reachable(pool, stop, last)
        except UNAVAILABLE as e:
            log.warning("database unavailable (%s); resuming from the checkpoint when it is back", e)
            last = await _checkpoint_when_reachable(pool, stop, last)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
    return last


async def _checkpoint_when_reachable(pool: asyncpg.Pool, stop: asyncio.Event, known: int) -> int:
    """The checkpoint, retrying every second while the database is unreachable; `known`
    (the last one read) when `stop` is set meanwhile: stopping does not wait for it."""
    while True:
        try:
            return await pstore.read_checkpoint(pool)
        except UNAVAILABLE as e:
            if stop.is_set():
                return known
            log.warning("waiting for the database: %s", e)
            await asyncio.sleep(1.0)


async def stream_last_seq(js: JetStreamContext) -> int:
    """The JOBS stream's last sequence now."""
    info = await js.stream_info(JOBS_STREAM)
    return info.state.last_seq


async def rebuild(js: JetStreamContext, pool: asyncpg.Pool) -> int:
    """Drop the read model and replay JOBS from the start up to its current last sequence.

    A running projector notices the rewound checkpoint and helps; both apply each fact
    once (the checkpoint row is locked per batch). Returns the final checkpoint.
    """
    target = await stream_last_seq(js)
    async with pool.acquire() as conn:
        await pstore.reset(conn)
    return await project(js, pool, asyncio.Event(), until_seq=target)
