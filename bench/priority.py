"""The wait of a priority-10 job against the queue length (PRD FR-5.2), measured on a
real nats-server with the real consumer loop (`runtime.jetstream.consumer.ConsumerLoop`) and the
project's consumer definitions; each run against the baseline in the same run: one
consumer over every band in arrival order (what the workers did before priorities).

For queue lengths Q: Q jobs of priority 1 are queued, then one of priority 10; one worker
(concurrency 1) handles them with a fixed 20 ms of simulated work each. Reported: how
many jobs were handled before the critical one, its wait (from the worker's start), the
median cost of one take between two jobs (banded: consumer infos, head reads and
no-wait pulls; baseline: one fetch), and the ratio of the waits. A second table ages the queue: priority-1 jobs that
have waited longer than 9 × TFLOW_PRIORITY_AGING_SECONDS are taken before new ones.
Prints the figures and writes JSON to bench/results/.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import nats  # noqa: E402
from report import write_results  # noqa: E402

from ops.stack import LOOPBACK, free_port, wait_for_port  # noqa: E402
from runtime.jetstream.connection import apply_consumer, apply_definitions  # noqa: E402
from runtime.jetstream.consumer import ConsumerLoop  # noqa: E402
from runtime.jetstream.definitions import Group, consumer_group  # noqa: E402
from runtime.jetstream.delivery import Delivery  # noqa: E402
from runtime.worker.facts import MemoryFacts  # noqa: E402

WORK_SECONDS = 0.02
QUEUES = (10, 100, 1000)


async def one_run(url: str, queue: int, banded: bool, aging: float = 0.0, aged_first: int = 0) -> dict:
    """Queue `queue` priority-1 facts (the first `aged_first` of them published as if long
    ago: before a `aging` pause), then one priority-10; handle until the critical one."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.purge_stream("JOBS")
    group = consumer_group("JOBS", "transcoder")
    for _, cfg in group.members:
        await apply_consumer(js, "JOBS", cfg)
    fifo = dataclasses.replace(group.base, durable_name="fifo_all_bands", metadata={})
    await apply_consumer(js, "JOBS", fifo)
    for i in range(queue):
        await js.publish(f"jobs.low{i}.ingested.p01", b"{}")
        if aged_first and i == aged_first - 1:
            await asyncio.sleep(aging * 9 + 0.5)  # these have waited 9 aging steps: they compete as 10
    await js.publish("jobs.critical.ingested.p10", b"{}")
    order: list[str] = []
    stamps: list[float] = []
    target = min(queue, 50) + 1  # the critical one, and enough takes to time one
    done = asyncio.Event()
    stop = asyncio.Event()

    async def handle(d: Delivery) -> None:
        await asyncio.sleep(WORK_SECONDS)
        order.append(d.subject.split(".")[1])
        stamps.append(time.perf_counter())
        if order[-1] == "critical":
            critical.append(stamps[-1])
        if critical and len(order) >= target:
            done.set()

    async def never(_: Delivery, __: BaseException) -> None:
        raise AssertionError("nothing fails here")

    baseline = Group("JOBS", "fifo_all_bands", None, fifo, ((None, fifo),))  # one consumer, arrival order
    loop = ConsumerLoop(js, "JOBS", "transcoder", "bench", handle, never, MemoryFacts(), fetch_timeout=2.0,
                        aging_seconds=aging, group=None if banded else baseline)
    critical: list[float] = []
    t0 = time.perf_counter()
    runner = asyncio.ensure_future(loop.run(stop))
    try:
        await asyncio.wait_for(done.wait(), timeout=600)
        waited = critical[0] - t0
    finally:
        stop.set()
        await runner
    await nc.close()
    gaps = sorted(b - a for a, b in zip(stamps, stamps[1:], strict=False))
    return {"handled_before_critical": order.index("critical"), "critical_wait_s": round(waited, 4),
            "take_overhead_ms": round(1000 * (gaps[len(gaps) // 2] - WORK_SECONDS), 2)}


async def main(url: str) -> dict:
    nc = await nats.connect(url)
    await apply_definitions(nc.jetstream())
    await nc.close()
    rows = []
    for q in QUEUES:
        banded = await one_run(url, q, banded=True)
        fifo = await one_run(url, q, banded=False)
        rows.append({"queue_length": q, "banded": banded, "arrival_order_baseline": fifo,
                     "wait_ratio": round(banded["critical_wait_s"] / fifo["critical_wait_s"], 4)})
        print(f"queue {q:5d}: critical after {banded['handled_before_critical']} jobs, waited "
              f"{banded['critical_wait_s']:.3f} s (take {banded['take_overhead_ms']:.2f} ms); in arrival order "
              f"after {fifo['handled_before_critical']}, {fifo['critical_wait_s']:.3f} s "
              f"(fetch {fifo['take_overhead_ms']:.2f} ms)", flush=True)
    aged = await one_run(url, 20, banded=True, aging=1.0, aged_first=5)
    print(f"aging 1 s: 5 priority-1 jobs queued 9.5 s earlier are handled first: "
          f"{aged['handled_before_critical']} before the critical one", flush=True)
    return {"work_seconds_per_job": WORK_SECONDS, "rows": rows,
            "aging": {"aging_seconds": 1.0, "aged_low_jobs": 5, "fresh_low_jobs": 15, **aged}}


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as store:
        port = free_port()
        server = subprocess.Popen([str(Path(sys.executable).parent / "nats-server"), "-js", "-a", LOOPBACK,
                                   "-p", str(port), "-sd", store], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            wait_for_port(port, 20, server)
            results = asyncio.run(main(f"nats://{LOOPBACK}:{port}"))
        finally:
            server.terminate()
            server.wait()
    write_results("priority", {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                               **results})
