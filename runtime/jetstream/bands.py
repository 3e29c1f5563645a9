"""Taking work highest priority first from a banded consumer group (`runtime.jetstream.definitions`):
which band to pull from next, and the one-message pulls that do not wait.

The rule (PRD FR-5.2, starvation bounded): a band's head message, the oldest it has not
delivered yet, competes with its *effective* priority, `min(10, p + floor(age / aging))`,
where `age` is the seconds since it was stored and `aging` is
`TFLOW_PRIORITY_AGING_SECONDS` (0: strict priority, which can starve). Bands are tried by
effective priority, then the older head first; bands with nothing undelivered but
messages in flight come last (a redelivery of a failed or timed-out message). So a job
of priority 1 that has waited `9 × aging` seconds is taken before any newer work, and a
job of priority `p` never waits more than `(10 - p) × aging` seconds plus the time the
older jobs of its effective band take.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, ConsumerInfo
from nats.js.errors import NotFoundError

from runtime.jetstream.definitions import Group

log = logging.getLogger(__name__)

#: The highest priority (PRD FR-5.2).
TOP = 10


@dataclass(frozen=True)
class Head:
    """What one band holds now: its priority, durable, the stream sequence and age in
    seconds of its oldest undelivered message (None: nothing undelivered), and whether
    messages are in flight (acknowledgements pending: a redelivery may come)."""

    priority: int
    durable: str
    seq: int | None = None
    age: float = 0.0
    in_flight: bool = False


def effective(head: Head, aging: float) -> int:
    """`min(10, priority + floor(age / aging))`; the priority itself when `aging` is 0."""
    if aging <= 0:
        return head.priority
    return min(TOP, head.priority + math.floor(max(0.0, head.age) / aging))


def take_order(heads: list[Head], aging: float) -> list[str]:
    """The durables to pull from, in order (see the module's rule): bands with undelivered
    messages by effective priority then oldest head; then bands with only messages in
    flight, highest priority first. Bands holding nothing are left out."""
    waiting = sorted((h for h in heads if h.seq is not None),
                     key=lambda h: (-effective(h, aging), h.seq, -h.priority))
    flying = sorted((h for h in heads if h.seq is None and h.in_flight), key=lambda h: -h.priority)
    return [h.durable for h in [*waiting, *flying]]


async def _head(js: JetStreamContext, stream: str, priority: int, cfg: ConsumerConfig, info: ConsumerInfo,
                now: datetime) -> Head:
    in_flight = bool(info.num_ack_pending)
    if not info.num_pending:
        return Head(priority, str(cfg.durable_name), in_flight=in_flight)
    start = (info.delivered.stream_seq or 0) + 1 if info.delivered else 1
    found = []
    for subject in cfg.filter_subjects or [cfg.filter_subject or ">"]:
        try:
            msg = await js.get_msg(stream, start, subject=subject, next=True)
        except NotFoundError:
            continue
        found.append(msg)
    if not found:
        return Head(priority, str(cfg.durable_name), in_flight=True)
    first = min(found, key=lambda m: m.seq or 0)
    age = (now - first.time).total_seconds() if first.time is not None else 0.0
    return Head(priority, str(cfg.durable_name), seq=first.seq, age=age, in_flight=in_flight)


async def read_heads(js: JetStreamContext, group: Group) -> list[Head]:
    """Every band's `Head`, read concurrently (consumer info, then the first undelivered
    message matching its filters). A band whose consumer cannot be read counts as one
    with messages in flight (it is tried last)."""
    now = datetime.now(UTC)

    async def one(priority: int, cfg: ConsumerConfig) -> Head:
        try:
            info = await js.consumer_info(group.stream, str(cfg.durable_name))
            return await _head(js, group.stream, priority, cfg, info, now)
        except Exception as e:  # noqa: BLE001 - the pull itself will tell what is wrong
            log.debug("band %s unreadable: %s", cfg.durable_name, e)
            return Head(priority, str(cfg.durable_name), in_flight=True)

    return list(await asyncio.gather(*(one(p or 0, c) for p, c in group.members)))


class NoWaitPuller:
    """Pulls one message at a time from pull consumer `durable` without waiting: a
    `no_wait` request whose answer (the message, or a 404/408 status when there is none)
    comes to this puller's own inbox (a JetStream delivery keeps its original subject, so
    the client's request/reply muxer cannot route it). A message that answers after the
    timeout waits in the inbox and is returned by the next `pull`."""

    def __init__(self, nc: NATS, js_prefix: str, stream: str, durable: str):
        self.nc, self.subject = nc, f"{js_prefix}.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self.inbox = nc.new_inbox()
        self.sub: Subscription | None = None

    async def pull(self, timeout: float = 2.0) -> Msg | None:
        """The next message if the consumer has one to deliver now, else None."""
        if self.sub is None:
            self.sub = await self.nc.subscribe(self.inbox)
        while self.sub.pending_msgs:  # a late answer to an earlier pull
            late = await self.sub.next_msg(timeout=0.1)
            if not JetStreamContext.is_status_msg(late):
                return late
        await self.nc.publish(self.subject, b'{"batch": 1, "no_wait": true}', reply=self.inbox)
        try:
            msg = await self.sub.next_msg(timeout=timeout)
        except TimeoutError:
            return None
        return None if JetStreamContext.is_status_msg(msg) else msg  # 404 none, 408 expired, 409 ...

    async def close(self) -> None:
        """Drop the inbox subscription."""
        if self.sub is not None:
            with contextlib.suppress(Exception):
                await self.sub.unsubscribe()
            self.sub = None


class IdlePoll:
    """While a banded worker is idle, one pull request waits on its top band (priority 10):
    a critical job is delivered the moment it is stored, and the consumer shows the replica
    waiting (`num_waiting`, what `/health` reads as alive). The request expires after
    `seconds`. A message it brings while every slot is busy (the worker took other work in
    the meantime) is kept alive with `in_progress` every `keepalive` seconds until a slot
    takes it."""

    def __init__(self, sub: JetStreamContext.PullSubscription, seconds: float, keepalive: float):
        self.sub, self.seconds, self.keepalive = sub, seconds, keepalive
        self.task: asyncio.Future | None = None
        self._keep: asyncio.Task | None = None

    def start(self) -> asyncio.Future:
        """The waiting request (a new one unless one is out); done when it brings a message
        or expires."""
        if self.task is None:
            self.task = asyncio.ensure_future(self.sub.fetch(1, timeout=self.seconds))
            self.task.add_done_callback(self._landed)
        return self.task

    @property
    def out(self) -> bool:
        """Whether a request is out (the top band's messages come to it, not to a pull)."""
        return self.task is not None and not self.task.done()

    def _message(self) -> Msg | None:
        task = self.task
        if task is None or not task.done() or task.cancelled() or task.exception() is not None:
            return None
        msgs = task.result()
        return msgs[0] if msgs else None

    def _landed(self, _: asyncio.Future) -> None:
        msg = self._message()
        if msg is not None:
            self._keep = asyncio.ensure_future(self._beat(msg))

    async def _beat(self, msg: Msg) -> None:
        while True:
            await asyncio.sleep(self.keepalive)
            with contextlib.suppress(Exception):
                await msg.in_progress()

    def take(self) -> Msg | None:
        """The message the finished request brought (None: it expired, failed or is still
        out); a finished request is forgotten, so `start` sends the next."""
        if self.task is None or not self.task.done():
            return None
        msg = self._message()
        self.task = None
        if self._keep is not None:
            self._keep.cancel()
            self._keep = None
        return msg

    async def close(self) -> None:
        """Cancel a request still out and stop keeping a message alive (the server
        redelivers it after `ack_wait`)."""
        for t in (self.task, self._keep):
            if t is not None and not t.done():
                t.cancel()
        with contextlib.suppress(Exception):
            await self.sub.unsubscribe()
