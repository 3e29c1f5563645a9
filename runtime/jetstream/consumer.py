"""Running a durable pull consumer group in one service replica: take messages (highest
priority band first for a banded group, every partition at once for a partitioned one),
run up to `concurrency` handlers at once, heartbeat, then ack, nak with backoff or term
(DESIGN: "Long work is heartbeated"; PRD FR-4.2 retries, FR-5.2 priorities)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig

from contracts.advisories import DLQ_STREAM
from runtime.jetstream.bands import IdlePoll, NoWaitPuller, read_heads, take_order
from runtime.jetstream.connection import apply_consumer, bounded, first, patiently, rejoined
from runtime.jetstream.definitions import Group, consumer_group
from runtime.jetstream.delivery import Delivery
from runtime.jetstream.retry import RETRY_DELAYS_SECONDS, Permanent, retry_delay
from runtime.observability.logs import log_context
from runtime.observability.metrics import HANDLE_SECONDS, LOAD, MESSAGES
from runtime.worker.facts import Facts

log = logging.getLogger(__name__)


#: After the doorbell rang and no band had the message yet: how often, and how long
#: apart, the bands are read again before waiting for the next ring.
DOORBELL_RETRIES = 10
DOORBELL_RETRY_SECONDS = 0.02
#: Seconds an idle banded worker's pull request on its top band waits before the bands
#: are looked at again. New facts ring the doorbell and the worker's own retries ring it
#: when due, so this only bounds how late a lower band's redelivery after another
#: replica's `ack_wait` or nak is seen. At 1 s the idle stack spent 3.7 % of a core on
#: these looks (bench/throughput.py, README "Throughput").
IDLE_RECHECK_SECONDS = 10.0
#: Seconds between looks while the server is away (no spinning).
AWAY_RETRY_SECONDS = 1.0
#: Seconds after a nak's delay at which its worker looks for the redelivery.
RING_AFTER_NAK_SLACK = 0.05
class Cancellations:
    """Jobs cancelled while this process works on them: a live subscription to
    `jobs.*.cancelled` cancels the handler task of that job (ffmpeg is killed, temp
    files removed by the handler's own cleanup)."""

    def __init__(self) -> None:
        self.cancelled: set[str] = set()
        self.running: dict[str, set[asyncio.Task]] = {}

    async def start(self, nc: NATS) -> None:
        """Subscribe (core NATS; the facts are also on JOBS)."""
        async def on_cancel(msg: Msg) -> None:
            self.cancel(msg.subject.split(".")[1])
        await nc.subscribe("jobs.*.cancelled", cb=on_cancel)

    def cancel(self, job_id: str) -> None:
        """Job `job_id` was cancelled: cancel its handler tasks, now and when tracked later."""
        self.cancelled.add(job_id)
        for task in list(self.running.get(job_id, ())):
            task.cancel()

    def track(self, job_id: str, task: asyncio.Task) -> None:
        """Follow `task`, the handler of a message of `job_id` (cancelled at once if the job is)."""
        if job_id in self.cancelled:
            task.cancel()
        self.running.setdefault(job_id, set()).add(task)
        task.add_done_callback(lambda t: self.running.get(job_id, set()).discard(t))


@dataclass
class ConsumerLoop:
    """The consumer group `durable` on `stream` (`runtime.jetstream.definitions`) run by one replica (any
    number of replicas share it), handling up to `concurrency` messages at once (`group`:
    another definition than the stream's, e.g. a benchmark's baseline).

    - An unsplit consumer is long-polled. A partitioned group runs one such poll per
      partition (each partition's `max_ack_pending` keeps its order).
    - A banded group is taken from in `runtime.jetstream.bands` order whenever a slot is free, with
      `no_wait` pulls; when every band is empty it waits for a new fact on the group's
      subjects (a core subscription rings it), for the pull request it keeps on the top
      band (`IdlePoll`), for the delay of a retry it naked, or `idle_recheck` seconds
      (other replicas' redeliveries).

    Handlers see a `Delivery` (subject, data, attempt), never the NATS message.
    `handle` returns normally -> ack; raises `Permanent` (`runtime.jetstream.retry`)
    -> `on_failure` then term; raises anything else -> nak with the delay of
    `retry_delays` for that attempt, and on the last delivery (`max_deliver`)
    `on_failure` then term: never silence. An exception inside `on_failure`, or an ack
    that cannot reach the server, is logged, never allowed to stop the loop (the server
    redelivers an unacknowledged message after `ack_wait`). `in_progress()` is sent every
    ack_wait/3 while the handler runs, so a short `ack_wait` (10 s) redelivers a dead
    worker's message quickly.
    """

    js: JetStreamContext
    stream: str
    durable: str
    service: str
    handle: Callable[[Delivery], Awaitable[None]]
    on_failure: Callable[[Delivery, BaseException], Awaitable[None]]
    facts: Facts
    fetch_timeout: float = 5.0
    rebind_after_timeouts: int = 12
    cancellations: Cancellations | None = None
    retry_delays: Sequence[float] = RETRY_DELAYS_SECONDS
    concurrency: int = 1
    aging_seconds: float = 0.0
    idle_recheck: float = IDLE_RECHECK_SECONDS
    group: Group | None = None
    _running: set[asyncio.Task] = field(init=False, repr=False, default_factory=set)
    _bell: asyncio.Event | None = field(init=False, repr=False, default=None)

    async def run(self, stop: asyncio.Event) -> None:
        """Take and handle until `stop` is set, then wait for the handlers running."""
        if self.group is None:
            self.group = consumer_group(self.stream, self.durable)
        group = self.group
        if await patiently(f"{self.durable}: applying its consumers", lambda: self._apply_all(group), stop) is None:
            return
        partitioned = group.split == "partition"  # one message at a time per partition (max_ack_pending 1)
        counted = self.stream != DLQ_STREAM  # the worker's load: its task loops, not its dead-letter loops
        width = len(group.members) if partitioned else max(1, self.concurrency)
        if counted:
            LOAD.add_loop(self.service, width)
        try:
            if group.split == "priority":
                await self._banded(group, stop, counted, asyncio.Semaphore(width))
            else:
                shared = asyncio.Semaphore(width)
                await asyncio.gather(*(self._polled(str(cfg.durable_name), stop, counted,
                                                    asyncio.Semaphore(1) if partitioned else shared)
                                       for _, cfg in group.members))
            if self._running:
                await asyncio.gather(*self._running, return_exceptions=True)
        finally:
            if counted:
                LOAD.add_loop(self.service, -width)

    async def _apply_all(self, group: Group) -> bool:
        """Create or update every member of `group` (True once done)."""
        for _, cfg in group.members:
            await apply_consumer(self.js, self.stream, cfg)
        return True

    def _start(self, msg: Msg, cfg: ConsumerConfig, counted: bool, slots: asyncio.Semaphore) -> None:
        """Handle `msg` in a task holding one of `slots` (taken by the caller)."""
        async def work() -> None:
            if counted:
                LOAD.busy(self.service)
            outcome = "error"
            try:
                outcome = await self._process(msg, cfg)
            finally:
                slots.release()
                if counted:
                    LOAD.idle(self.service, outcome)
        task = asyncio.ensure_future(work())
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    @staticmethod
    async def _slot(stop: asyncio.Event, slots: asyncio.Semaphore) -> bool:
        """Wait for a free one of `slots` (True), or for `stop` (False, none held)."""
        acquire = asyncio.ensure_future(slots.acquire())
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait([acquire, stopping], return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if acquire.done() and not stop.is_set():
            return True
        if acquire.done():
            slots.release()
        else:
            acquire.cancel()
        return False

    async def _banded(self, group: Group, stop: asyncio.Event, counted: bool, slots: asyncio.Semaphore) -> None:
        nc: NATS = self.js._nc
        configs = {str(c.durable_name): c for _, c in group.members}
        top = group.names[0]
        bell = self._bell = asyncio.Event()

        async def ring(_: Msg) -> None:
            bell.set()
        subs = [await nc.subscribe(s, cb=ring) for s in group.base.filter_subjects or [group.base.filter_subject or ""]]
        pullers = {d: NoWaitPuller(nc, self.js._prefix, self.stream, d) for d in configs}
        bound = await patiently(f"{top}: binding", lambda: self.js.pull_subscribe_bind(top, self.stream), stop)
        if bound is None:
            for sub in subs:
                await bounded(sub.unsubscribe(), 1.0)
            return
        idle = IdlePoll(bound, self.idle_recheck, max(0.5, (configs[top].ack_wait or 30.0) / 3))
        late = 0  # empty takes in a row right after the doorbell rang
        try:
            while await self._slot(stop, slots):
                msg, cfg = idle.take(), configs[top]
                rang = bell.is_set()
                try:
                    bell.clear()
                    order = [] if msg is not None else take_order(await read_heads(self.js, group),
                                                                  self.aging_seconds)
                    for durable in order:
                        if durable == top and idle.out:
                            continue  # the top band's messages come to the waiting request
                        msg, cfg = await pullers[durable].pull(), configs[durable]
                        if msg is not None:
                            break
                except Exception as e:  # noqa: BLE001 - connection lost, consumer deleted, ...
                    log.warning("%s: taking failed (%s); retrying", self.durable, e)
                    await first(asyncio.sleep(AWAY_RETRY_SECONDS), stop.wait())  # no spinning on a stalled server
                    with contextlib.suppress(Exception):
                        await bounded(self._apply_all(group), self.fetch_timeout)
                if msg is not None:
                    late = 0
                    self._start(msg, cfg, counted, slots)
                    continue
                slots.release()
                if rang and late < DOORBELL_RETRIES:
                    # the core subscription can hear a fact before the stream has stored it
                    # (the stream is another subscriber): look again shortly
                    late += 1
                    await first(asyncio.sleep(DOORBELL_RETRY_SECONDS), stop.wait())
                    bell.set()
                    continue
                late = 0
                waiting = idle.start()
                await first(bell.wait(), stop.wait(), asyncio.shield(waiting))
                if waiting.done() and not waiting.cancelled() and not isinstance(
                        waiting.exception(), TimeoutError | type(None)):
                    await first(asyncio.sleep(AWAY_RETRY_SECONDS), stop.wait())  # the server is away: no spinning
        finally:
            for sub in subs:
                with contextlib.suppress(Exception):
                    await bounded(sub.unsubscribe(), 1.0)
            for puller in pullers.values():
                await bounded(puller.close(), 1.0)
            await bounded(idle.close(), 1.0)

    async def _polled(self, durable: str, stop: asyncio.Event, counted: bool, slots: asyncio.Semaphore) -> None:
        """Long-poll one consumer, one message per free one of `slots`; re-binds after
        repeated fetch timeouts or errors."""
        bound = await self._bind(durable, stop)
        if bound is None:
            return
        sub, cfg = bound
        timeouts = 0
        back = rejoined(self.js._nc)  # a reconnect loses the waiting request: send another at once
        while await self._slot(stop, slots):
            fetch = asyncio.ensure_future(sub.fetch(1, timeout=self.fetch_timeout))
            stopping = asyncio.ensure_future(stop.wait())
            woken = asyncio.ensure_future(back.wait())
            await asyncio.wait([fetch, stopping, woken], return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            woken.cancel()
            if stop.is_set() or (back.is_set() and not fetch.done()):
                back.clear()
                slots.release()
                fetch.cancel()
                with contextlib.suppress(BaseException):
                    await fetch
                if stop.is_set():
                    break
                continue
            back.clear()
            try:
                msgs = fetch.result()
            except nats.errors.TimeoutError:
                slots.release()
                timeouts += 1
                if timeouts >= self.rebind_after_timeouts:
                    timeouts = 0
                    bound = await self._rebind(sub, durable, stop)
                    if bound is None:
                        break
                    sub, cfg = bound
                continue
            except Exception as e:  # noqa: BLE001 - connection lost, consumer deleted, ...
                slots.release()
                log.warning("%s: fetch failed (%s); re-binding", durable, e)
                await first(asyncio.sleep(AWAY_RETRY_SECONDS), stop.wait())
                bound = await self._rebind(sub, durable, stop)
                if bound is None:
                    break
                sub, cfg = bound
                continue
            timeouts = 0
            self._start(msgs[0], cfg, counted, slots)
        with contextlib.suppress(Exception):
            await bounded(sub.unsubscribe(), 1.0)  # the server may be hung

    async def _bind(self, durable: str, stop: asyncio.Event
                    ) -> tuple[JetStreamContext.PullSubscription, ConsumerConfig] | None:
        """Apply `durable`'s config and bind a pull subscription to it, retried with backoff
        while the server does not answer (`patiently`); None once `stop` is set."""
        assert self.group is not None  # set by run()
        cfg = next(c for _, c in self.group.members if c.durable_name == durable)

        async def bind() -> JetStreamContext.PullSubscription:
            await apply_consumer(self.js, self.stream, cfg)
            return await self.js.pull_subscribe_bind(durable, self.stream)
        sub = await patiently(f"{durable}: binding", bind, stop)
        return None if sub is None else (sub, cfg)

    async def _rebind(self, sub: JetStreamContext.PullSubscription, durable: str, stop: asyncio.Event
                      ) -> tuple[JetStreamContext.PullSubscription, ConsumerConfig] | None:
        await bounded(sub.unsubscribe(), 1.0)  # the server may be hung
        return await self._bind(durable, stop)

    async def _handle_cancellable(self, delivery: Delivery) -> None:
        """Run the handler; a job cancelled before or during it is acked as done."""
        job_id = delivery.job_id
        if self.cancellations is None or job_id is None:
            await self.handle(delivery)
            return
        if job_id not in self.cancellations.cancelled and await self.facts.last(job_id, "cancelled"):
            self.cancellations.cancelled.add(job_id)
        if job_id in self.cancellations.cancelled:  # also one that came while the fact was looked up
            MESSAGES.labels(self.service, "cancelled").inc()
            return
        task = asyncio.ensure_future(self.handle(delivery))
        self.cancellations.track(job_id, task)
        try:
            await task
        except asyncio.CancelledError:
            if job_id not in self.cancellations.cancelled:
                raise  # we are being stopped, not the job
            log.info("%s: job %s cancelled; its work stopped", self.durable, job_id)
            MESSAGES.labels(self.service, "cancelled").inc()

    async def _heartbeat(self, msg: Msg, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            with contextlib.suppress(Exception):
                await msg.in_progress()

    async def _process(self, msg: Msg, cfg: ConsumerConfig) -> str:
        """Handle one message; returns the outcome (ack, nak, term)."""
        every = max(0.5, (cfg.ack_wait or 30.0) / 3)
        beat = asyncio.create_task(self._heartbeat(msg, every))
        started = time.perf_counter()
        attempt = msg.metadata.num_delivered
        last = attempt >= (cfg.max_deliver or 1) > 0
        delay = retry_delay(attempt, self.retry_delays)
        delivery = Delivery(subject=msg.subject, data=msg.data, attempt=attempt, last=last, retry_in=delay)
        with log_context(job_id=delivery.job_id, attempt=attempt, consumer=str(cfg.durable_name)):
            return await self._settle(msg, delivery, beat, started)

    async def _settle(self, msg: Msg, delivery: Delivery, beat: asyncio.Task, started: float) -> str:
        """Run the handler on `delivery`, then ack, nak or term `msg`; returns which."""
        attempt, last, delay = delivery.attempt, delivery.last, delivery.retry_in
        try:
            await self._handle_cancellable(delivery)
            outcome = "ack"
        except Exception as e:  # noqa: BLE001 - any failure is retried or ends in a failure fact
            error: BaseException = e
            outcome = "term" if isinstance(e, Permanent) or last else "nak"
        finally:
            beat.cancel()
            HANDLE_SECONDS.labels(self.service).observe(time.perf_counter() - started)
        try:
            if outcome == "ack":
                await msg.ack()
            elif outcome == "term":
                log.warning("%s: giving up on %s after %d deliveries: %s", self.durable, msg.subject, attempt,
                            error)
                try:
                    await self.on_failure(delivery, error)
                except Exception:
                    log.exception("%s: the failure callback of %s failed", self.durable, msg.subject)
                await msg.term()
            else:
                log.warning("%s: retrying %s in %.0fs: %r", self.durable, msg.subject, delay, error)
                await msg.nak(delay=delay)
                if self._bell is not None:  # look again when the server redelivers it (no polling meanwhile)
                    asyncio.get_running_loop().call_later(delay + RING_AFTER_NAK_SLACK, self._bell.set)
        except Exception as e:  # noqa: BLE001 - the server is away: it redelivers after ack_wait
            log.warning("%s: could not %s %s (%s); the server redelivers it", self.durable, outcome, msg.subject, e)
        MESSAGES.labels(self.service, outcome).inc()
        return outcome

