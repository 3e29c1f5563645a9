"""Ingest latency: an object landing -> its job row in Postgres, on the embedded stack.

Over N files (default 20, real clips from ../shared/media/valid, each under a new key so
each is a new job), one at a time, the same run measures:
  - bucket PUT, MinIO publishing its event straight to NATS (what runs: `ops.minio`);
  - bucket PUT, MinIO with a `queue_dir` on its NATS target (the alternative: events kept
    on disk through a NATS outage, re-read every 3 s);
  - the drop folder: an atomic rename into the inbox (settle 2 s, the default);
  - after `kill -9` of NATS and its restart: seconds until a PUT's own event is a job again
    (until then the reconcile sweep, off here, is what finds objects);
  - readiness of `tflow up` (what `make run` runs): fresh data dir and warm restart.
Each path gives median and p95 of PUT/rename -> row exists and -> `ingested`, and the
ratio of the direct path's p95 to the drop folder's. Prints the figures and writes JSON to
bench/results/.
"""

from __future__ import annotations

import asyncio
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from report import write_results  # noqa: E402

from ops.stack import free_port, loopback_settings, running_stack  # noqa: E402
from readmodel.db import create_pool  # noqa: E402
from runtime.settings import Settings  # noqa: E402
from runtime.storage import store  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media" / "valid"
N = int(os.environ.get("BENCH_FILES", "20"))
ONLY_EVENTS = {"TFLOW_SWEEP_INTERVAL_SECONDS": "0"}  # no sweep: each job comes from its event


def clips() -> list[Path]:
    files = sorted(p for p in MEDIA.iterdir() if p.suffix not in (".vtt", ".srt"))
    return [files[i % len(files)] for i in range(N)]


def summary(xs: list[float]) -> dict:
    xs = sorted(xs)
    return {"n": len(xs), "median_ms": round(statistics.median(xs) * 1000, 1),
            "p95_ms": round(xs[round(0.95 * (len(xs) - 1))] * 1000, 1), "min_ms": round(xs[0] * 1000, 1),
            "max_ms": round(xs[-1] * 1000, 1)}


async def wait_row(pool, key: str, statuses: tuple[str, ...], timeout: float = 60) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await pool.fetchval("SELECT 1 FROM jobs WHERE source_key = $1 AND status = ANY($2)", key, list(statuses)):
            return time.monotonic()
        await asyncio.sleep(0.005)
    raise TimeoutError(f"no job row for {key}")


async def landings(settings: Settings, land, label: str) -> dict:
    """`land(i, src) -> key` for each clip, one at a time: seconds to the row and to `ingested`."""
    pool = await create_pool(settings.database.url or "")
    row, ingested = [], []
    try:
        for i, src in enumerate(clips()):
            t0 = time.monotonic()
            key = land(i, src)
            t_row = await wait_row(pool, key, ("validating", "pending", "failed"))
            t_ing = await wait_row(pool, key, ("pending", "failed"))
            row.append(t_row - t0)
            ingested.append(t_ing - t0)
    finally:
        await pool.close()
    print(f"{label}: row p95 {summary(row)['p95_ms']} ms")
    return {"row_exists": summary(row), "ingested": summary(ingested)}


def put(settings: Settings, prefix: str):
    client = store.make_client(settings)

    def land(i: int, src: Path) -> str:
        key = f"raw/{prefix}-{i:02d}{src.suffix}"
        store.upload_file(client, settings.s3.bucket, key, src)
        return key
    return land


def drop(settings: Settings, tmp: Path):
    def land(i: int, src: Path) -> str:
        name = f"inbox-{i:02d}{src.suffix}"
        shutil.copyfile(src, tmp / name)
        os.rename(tmp / name, settings.inbox_dir / name)  # the file lands, complete
        return f"raw/{name}"
    return land


async def event_path_back(settings: Settings, stack) -> float:
    """`kill -9` NATS, wait for the supervisor's restart, then PUT a clip every 0.25 s:
    seconds from the new NATS process to the first PUT that became a job."""
    pool = await create_pool(settings.database.url or "")
    client, src = store.make_client(settings), clips()[0]
    try:
        old = stack.servers.procs["nats"]
        os.kill(old.pid, signal.SIGKILL)
        while stack.servers.procs["nats"] is old:
            await asyncio.sleep(0.02)
        restarted = time.monotonic()
        keys: list[tuple[str, float]] = []
        while time.monotonic() - restarted < 60:
            key = f"raw/after-restart-{len(keys):03d}{src.suffix}"
            await asyncio.to_thread(store.upload_file, client, settings.s3.bucket, key, src)
            keys.append((key, time.monotonic()))
            await asyncio.sleep(0.25)
            rows = {r["source_key"] for r in await pool.fetch("SELECT source_key FROM jobs WHERE source_key = ANY($1)",
                                                              [k for k, _ in keys])}
            if rows:
                first = min(t for k, t in keys if k in rows)
                return round(first - restarted, 2)
        raise TimeoutError("no event became a job within 60 s of NATS's restart")
    finally:
        await pool.close()


def readiness(tmp: Path) -> dict:
    """Seconds from `tflow up` start to its "is up" banner: fresh data dir, then warm restart."""
    data = tmp / "ready-data"
    out = {}
    for label in ("fresh_data_dir", "warm_restart"):
        env = dict(os.environ, TFLOW_DATA_DIR=str(data), TFLOW_API_PORT=str(free_port()), TFLOW_NATS_PORT="0",
                   TFLOW_S3_PORT="0")
        t0 = time.monotonic()
        proc = subprocess.Popen([str(ROOT / ".venv" / "bin" / "tflow"), "up"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        for line in proc.stdout:
            if "Transcode Flow is up" in line:
                out[label] = round(time.monotonic() - t0, 2)
                break
        proc.send_signal(2)
        t1 = time.monotonic()
        proc.wait(60)
        out[f"{label}_stop_seconds"] = round(time.monotonic() - t1, 2)
    return out


def main() -> None:
    results: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()}, "files": N}
    services = ("ingest", "projector")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        results["make_run_ready_seconds"] = readiness(tmp)
        with running_stack(loopback_settings(tmp / "direct"), services, extra_env=ONLY_EVENTS,
                           service_logs=tmp / "logs-direct", supervise=True) as (settings, _, stack):
            time.sleep(1.0)
            results["bucket_put_direct"] = asyncio.run(landings(settings, put(settings, "direct"), "direct"))
            results["drop_folder"] = asyncio.run(landings(settings, drop(settings, tmp), "drop folder"))
            results["nats_restart_to_event_job_seconds"] = asyncio.run(event_path_back(settings, stack))
        queue = {"MINIO_NOTIFY_NATS_QUEUE_DIR_PRIMARY": str(tmp / "queue"),
                 "MINIO_NOTIFY_NATS_QUEUE_LIMIT_PRIMARY": "100000"}
        (tmp / "queue").mkdir()
        with running_stack(loopback_settings(tmp / "queued"), services, extra_env=ONLY_EVENTS,
                           service_logs=tmp / "logs-queued", minio_env=queue) as (settings, _, _):
            time.sleep(1.0)
            results["bucket_put_queue_dir"] = asyncio.run(landings(settings, put(settings, "queued"), "queue_dir"))
    p95 = {k: results[k]["row_exists"]["p95_ms"] for k in ("bucket_put_direct", "bucket_put_queue_dir", "drop_folder")}
    results["ratio_p95_direct_over_drop_folder"] = round(p95["bucket_put_direct"] / p95["drop_folder"], 3)
    results["ratio_p95_direct_over_queue_dir"] = round(p95["bucket_put_direct"] / p95["bucket_put_queue_dir"], 3)
    write_results("ingest_latency", results)


if __name__ == "__main__":
    main()
