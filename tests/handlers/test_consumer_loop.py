"""The consumer loop on a real JetStream (nats-server from its wheel): banded consumers are
drained best band first, a handler's return acks, `Permanent` terms after `on_failure`,
any other error naks with the retry delay and the message comes back as attempt 2, and
the last delivery ends in `on_failure` (never silence)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import nats
import pytest

from contracts import JobOptions, Replayed, encode, subject_for, utcnow
from runtime.jetstream.connection import apply_definitions
from runtime.jetstream.consumer import Cancellations, ConsumerLoop
from runtime.jetstream.delivery import Delivery
from runtime.jetstream.retry import Permanent
from runtime.worker.facts import MemoryFacts

pytestmark = pytest.mark.integration


def _replay(job: str, priority: int) -> tuple[str, bytes]:
    fact = Replayed(job_id=job, at=utcnow(), epoch=2, tasks=["thumbnails"], epochs={"thumbnails": 2},
                    options=JobOptions(priority=priority))
    return subject_for(fact), encode(fact)


async def _run_until(loop: ConsumerLoop, done: asyncio.Event, timeout: float = 20.0) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))
    try:
        await asyncio.wait_for(done.wait(), timeout)
    finally:
        stop.set()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(task, 10)


@pytest.fixture
async def js(nats_url):
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await apply_definitions(js)
    await js.purge_stream("JOBS")
    yield js
    await nc.close()


async def test_the_best_band_is_taken_first_and_failures_go_their_ways(js):
    low = [str(uuid.uuid4()) for _ in range(3)]
    critical, permanent, flaky = (str(uuid.uuid4()) for _ in range(3))
    for job in low:
        await js.publish(*_replay(job, 1))
    for job, priority in ((permanent, 5), (flaky, 5), (critical, 10)):
        await js.publish(*_replay(job, priority))
    handled: list[tuple[str, int]] = []
    failed: list[tuple[str, str]] = []
    done = asyncio.Event()

    async def handle(d: Delivery) -> None:
        handled.append((str(d.job_id), d.attempt))
        if d.job_id == permanent:
            raise Permanent("bad input")
        if d.job_id == flaky and d.attempt == 1:
            raise ConnectionError("store away")
        if len({j for j, _ in handled}) == 6 and (flaky, 2) in handled:
            done.set()

    async def on_failure(d: Delivery, e: BaseException) -> None:
        failed.append((str(d.job_id), type(e).__name__))

    loop = ConsumerLoop(js, "JOBS", "thumbnailer", "tests", handle, on_failure, MemoryFacts(),
                        retry_delays=[0.2], idle_recheck=0.2)
    await _run_until(loop, done)
    assert handled[0] == (critical, 1), handled  # priority 10 before everything queued ahead of it
    assert set(low) <= {j for j, _ in handled[1:]}, "the low band is served too"
    assert failed == [(permanent, "Permanent")], "Permanent: on_failure once, then term (no redelivery)"
    assert handled.count((permanent, 1)) == 1 and (permanent, 2) not in handled
    assert (flaky, 1) in handled and (flaky, 2) in handled, "a transient error is nak'd and redelivered"
    # every ack and term reached the server: nothing pending or unacknowledged on any band,
    # so nothing more can be delivered
    for info in await js.consumers_info("JOBS"):
        if info.name.startswith("thumbnailer_"):
            assert (info.num_pending, info.num_ack_pending, info.num_redelivered) == (0, 0, 0), info
    assert len(handled) == 7, handled


async def test_the_last_delivery_ends_in_on_failure(js):
    job = str(uuid.uuid4())
    await js.publish(*_replay(job, 5))
    attempts: list[int] = []
    failed = asyncio.Event()

    async def handle(d: Delivery) -> None:
        attempts.append(d.attempt)
        raise TimeoutError("still away")

    async def on_failure(d: Delivery, e: BaseException) -> None:
        assert d.last and isinstance(e, TimeoutError)
        failed.set()

    # no idle polling to find the redeliveries (60 s): the worker looks when each retry it naked is due
    loop = ConsumerLoop(js, "JOBS", "thumbnailer", "tests", handle, on_failure, MemoryFacts(),
                        retry_delays=[0.05], idle_recheck=60)
    await _run_until(loop, failed, timeout=15)
    assert attempts == list(range(1, 9)), "max_deliver 8 of the thumbnailer's definition, then on_failure"


class _CancelledWhileLookedUp(MemoryFacts):
    """Facts whose lookup of `cancelled` is slow: the job's cancellation arrives (over core
    NATS, as `Cancellations.start` would deliver it) while the loop waits for the answer."""

    def __init__(self, cancellations: Cancellations):
        super().__init__()
        self.cancellations = cancellations

    async def last(self, job_id: str, event_type: str, task: str | None = None):
        found = await super().last(job_id, event_type, task)
        await asyncio.sleep(0.05)
        if event_type == "cancelled":
            self.cancellations.cancel(job_id)
        return found


async def test_a_cancel_arriving_while_the_loop_checks_for_one_stops_the_work():
    job = str(uuid.uuid4())
    subject, data = _replay(job, 5)
    cancellations = Cancellations()
    handled: list[str] = []

    async def handle(d: Delivery) -> None:
        handled.append(d.job_id or "")

    async def on_failure(d: Delivery, e: BaseException) -> None:
        raise AssertionError(f"no failure expected: {e}")

    loop = ConsumerLoop(None, "JOBS", "thumbnailer", "tests", handle, on_failure,  # type: ignore[arg-type]
                        _CancelledWhileLookedUp(cancellations), cancellations=cancellations)
    await loop._handle_cancellable(Delivery(subject=subject, data=data, attempt=1, last=False, retry_in=0.0))
    assert handled == [], "the handler of a job cancelled during the lookup must not run"
    # a handler tracked after its job's cancel is cancelled at once
    started = asyncio.ensure_future(asyncio.sleep(10))
    cancellations.track(job, started)
    with contextlib.suppress(asyncio.CancelledError):
        await started
    assert started.cancelled()
