"""API load benchmark (issue: REST API): 100,000 jobs projected into Postgres from real
facts (published to JOBS, folded by the projector), then `wrk` (a separate process,
Debian's package) with 50 connections against
  - GET /api/v1/jobs/{job_id}   (random ids of the 100,000),
  - GET /api/v1/jobs?status=completed,
  - GET /health                 (baseline of the same run: the cheapest route),
reporting p50/p95/p99 latency and requests/s, and ratios to the baseline. PRD target:
p95 < 200 ms. JSON to bench/results/.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from report import write_results  # noqa: E402

from contracts import (  # noqa: E402
    Ingested,
    ObjectRef,
    PlannedTask,
    Probe,
    Received,
    Rejected,
    VideoInfo,
    job_id_for,
    utcnow,
)
from ops.stack import loopback_settings, running_stack, wait_for_http  # noqa: E402
from readmodel.db import create_pool  # noqa: E402
from runtime.jetstream.connection import connect  # noqa: E402
from runtime.settings import Settings  # noqa: E402
from runtime.worker.facts import JetStreamFacts  # noqa: E402

JOBS = int(os.environ.get("BENCH_JOBS", "100000"))
DURATION = os.environ.get("BENCH_WRK_DURATION", "20s")
PROBE = Probe(container="mov,mp4,m4a,3gp,3g2,mj2", duration_seconds=60.0, size_bytes=10_000_000, bitrate=1_333_333,
              video=VideoInfo(codec="h264", width=1920, height=1080, display_width=1920, display_height=1080, fps=30.0))
PLAN = [PlannedTask(name="video_360p", kind="transcode", rendition="360p")]

DONE = """
done = function(summary, latency, requests)
  io.write(string.format("RESULT p50=%d p95=%d p99=%d rps=%.1f errors=%d non2xx=%d\\n",
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    summary.requests / (summary.duration / 1e6),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
"""
LUA = """
math.randomseed(%d)
ids = {}
for line in io.lines("%s") do ids[#ids + 1] = line end
request = function()
  return wrk.format("GET", "/api/v1/jobs/" .. ids[math.random(#ids)], {["X-API-Key"] = "%s"})
end
"""
LUA_FIXED = """
wrk.headers["X-API-Key"] = "%s"
"""


async def load(settings: Settings) -> list[str]:
    """Publish received + ingested/rejected facts for JOBS jobs; wait until projected."""
    nc = await connect(settings, "bench")
    js = nc.jetstream()
    facts = JetStreamFacts(js, "bench")
    ids = []
    t0 = time.monotonic()
    batch = []
    for i in range(JOBS):
        ref = ObjectRef(bucket="videos", key=f"raw/bench/{i:06d}.mp4", etag=f"{i:032x}", size=10_000_000)
        jid = job_id_for(ref)
        ids.append(jid)
        now = utcnow()
        batch.append(facts.publish(Received(job_id=jid, at=now, source=ref, origin="api")))
        kind = i % 5
        if kind == 0:
            batch.append(facts.publish(Rejected(job_id=jid, at=now, source=ref, origin="api", code="too_short",
                                                message="bench")))
        else:
            batch.append(facts.publish(Ingested(job_id=jid, at=now, source=ref, origin="api", probe=PROBE,
                                                plan=PLAN if kind == 1 else [],
                                                user_metadata={"n": i, "category": ["a", "b"][i % 2]})))
        if len(batch) >= 1000:
            await asyncio.gather(*batch)
            batch = []
    await asyncio.gather(*batch)
    published = time.monotonic() - t0
    last = (await js.stream_info("JOBS")).state.last_seq
    pool = await create_pool(settings.database.url or "")
    while await pool.fetchval("SELECT last_seq FROM projector_checkpoint") < last:
        await asyncio.sleep(0.2)
    projected = time.monotonic() - t0
    count = await pool.fetchval("SELECT count(*) FROM jobs")
    await pool.execute("VACUUM ANALYZE jobs")  # what autovacuum does after a bulk load
    await pool.close()
    await nc.close()
    print(f"{count} jobs: published {2 * JOBS} facts in {published:.1f}s, projected after {projected:.1f}s", flush=True)
    return ids, {"facts": 2 * JOBS, "publish_seconds": round(published, 1), "projected_seconds": round(projected, 1),
                 "jobs_in_postgres": count}


def wrk(url: str, script: Path) -> dict:
    out = subprocess.run(["wrk", "-t2", "-c50", f"-d{DURATION}", "--timeout", "10s", "-s", str(script), url],
                         capture_output=True, text=True, check=True).stdout
    m = re.search(r"RESULT p50=(\d+) p95=(\d+) p99=(\d+) rps=([\d.]+) errors=(\d+) non2xx=(\d+)", out)
    p50, p95, p99, rps, errors, non2xx = m.groups()
    return {"p50_ms": int(p50) / 1000, "p95_ms": int(p95) / 1000, "p99_ms": int(p99) / 1000,
            "requests_per_second": float(rps), "socket_errors": int(errors), "non_2xx": int(non2xx)}


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install wrk (make bench does)")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        base = loopback_settings(tmp / "data")
        with running_stack(base, services=("projector", "api"), service_logs=tmp / "logs") as (settings, _, _):
            ids, loading = asyncio.run(load(settings))
            key = settings.admin_key_value()
            (tmp / "ids.txt").write_text("\n".join(random.Random(1).sample(ids, min(len(ids), 10_000))) + "\n")
            (tmp / "one.lua").write_text(LUA % (1, tmp / "ids.txt", key) + DONE)
            (tmp / "fixed.lua").write_text(LUA_FIXED % key + DONE)
            api = f"http://{settings.api.host}:{settings.api.port}"
            wait_for_http(f"{api}/health", 60)
            res = {"jobs": JOBS, "connections": 50, "duration": DURATION, "cpus": os.cpu_count(), "load": loading}
            res["baseline_health"] = wrk(f"{api}/health", tmp / "fixed.lua")
            res["get_job"] = wrk(f"{api}/api/v1/jobs/{uuid.uuid4()}", tmp / "one.lua")
            res["list_completed"] = wrk(f"{api}/api/v1/jobs?status=completed", tmp / "fixed.lua")
            for k in ("get_job", "list_completed"):
                res[k]["p95_over_baseline"] = round(res[k]["p95_ms"] / res["baseline_health"]["p95_ms"], 2)
                res[k]["rps_over_baseline"] = round(res[k]["requests_per_second"] /
                                                    res["baseline_health"]["requests_per_second"], 2)
                res[k]["prd_p95_under_200ms"] = res[k]["p95_ms"] < 200
    write_results("api_load", res)


if __name__ == "__main__":
    main()
