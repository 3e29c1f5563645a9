"""What `sync_interval: always` costs on the publish path (the decision of the
reliability issue: Jepsen's NATS 2.12.1 analysis, Dec 2025, lost acknowledged writes on
OS crash or power loss with the default fsync every 2 minutes).

Two nats-server processes from the same binary, the same config as the embedded one
(`natsauth.server_config`), one with the default `sync_interval` and one with `always`
(every write fsynced before its ack). Each gets, in the same run:
  - sequential publishes (a worker's pattern: one fact, wait for its ack), latency
    median and p99;
  - 16 publishes in flight (several workers at once), throughput;
  - one job's worth of facts (≈120: started, progress each second of a 60 s encode per
    task, completed), wall time.
Prints the figures and the ratios and writes JSON to bench/results/.
"""

from __future__ import annotations

import asyncio
import statistics
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

from ops import natsauth  # noqa: E402
from ops.processes import stop_process  # noqa: E402
from ops.secrets import private_file  # noqa: E402
from ops.stack import LOOPBACK, free_port, wait_for_port  # noqa: E402

SEQUENTIAL, CONCURRENT, IN_FLIGHT, JOB_FACTS = 1000, 4000, 16, 120
FACT = b'{"v":2,"type":"task_progress","job_id":"00000000-0000-0000-0000-000000000001","at":"2026-12-01T12:00:00Z",' \
       b'"task":"video_720p","percent":42.5,"speed":1.3,"eta_seconds":20.1}'


async def _figures(url: str, auth: dict[str, str]) -> dict:
    nc = await nats.connect(url, **auth)
    js = nc.jetstream()
    await js.add_stream(name="JOBS", subjects=["jobs.>"])
    lat = []
    for _ in range(SEQUENTIAL):
        t0 = time.perf_counter()
        await js.publish("jobs.j.task_progress.video_720p", FACT)
        lat.append(time.perf_counter() - t0)
    lat.sort()
    sem = asyncio.Semaphore(IN_FLIGHT)

    async def one() -> None:
        async with sem:
            await js.publish("jobs.j.task_progress.video_720p", FACT)
    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(CONCURRENT)))
    concurrent_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(JOB_FACTS):
        await js.publish("jobs.k.task_progress.video_720p", FACT)
    job_s = time.perf_counter() - t0
    await nc.close()
    return {"publish_ms_median": round(statistics.median(lat) * 1000, 3),
            "publish_ms_p99": round(lat[int(len(lat) * 0.99)] * 1000, 3),
            "concurrent_per_second": round(CONCURRENT / concurrent_s),
            "job_facts_ms": round(job_s * 1000, 1)}


async def _with_server(tmp: Path, sync: str | None, run: str) -> dict:
    port = free_port()
    store = tmp / run
    store.mkdir()
    conf = store / "server.conf"
    private_file(conf, natsauth.server_config(host=LOOPBACK, port=port, store_dir=store, secrets_dir=tmp / "s",
                                              sync_interval=sync))
    proc = subprocess.Popen([str(Path(sys.executable).parent / "nats-server"), "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, 20, proc)
        admin = {"user": natsauth.ADMIN, "password": natsauth.credentials(tmp / "s")[natsauth.ADMIN]}
        return await _figures(f"nats://{LOOPBACK}:{port}", admin)
    finally:
        stop_process(proc, "nats")


async def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        default = await _with_server(tmp, None, "default")
        always = await _with_server(tmp, "always", "always")
        default_again = await _with_server(tmp, None, "default-again")  # the baseline twice: the noise
    ratios = {k: round(always[k] / default[k], 2) for k in default}
    results = {"default_2min": default, "always": always, "default_again": default_again,
               "always_over_default": ratios,
               "per_job_overhead_ms": round(always["job_facts_ms"] - default["job_facts_ms"], 1)}
    write_results("stream_durability", results)


if __name__ == "__main__":
    asyncio.run(main())
