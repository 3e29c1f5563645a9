"""Ingest latency: file landing (inbox rename / bucket PUT) -> job row in Postgres.

Over N files (default 20, real clips from ../shared/media/valid, each under a new
name so each is a new job), one at a time, it measures:
  - inbox: atomic rename into the drop folder -> row exists (`validating`) and ->
    `ingested` with probe data (status `pending`);
  - bucket PUT via MinIO's notification (when `make minio` built MinIO);
  - baseline, same run: the bare work with no pipeline around it (upload the file to
    the store + PyAV probe over a presigned URL), to report ratios;
  - readiness of `tflow up` (what `make run` runs): fresh data dir and warm restart.
Prints the figures and writes JSON to bench/results/.
"""

from __future__ import annotations

import asyncio
import os
import platform
import shutil
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
from tests.support.minio_server import MinioServer  # noqa: E402

from media.probe import read_media  # noqa: E402
from ops import natsauth
from ops.stack import free_port, loopback_settings, running_stack  # noqa: E402
from readmodel.db import create_pool  # noqa: E402
from runtime.settings import Settings  # noqa: E402
from runtime.storage import store  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media" / "valid"
N = int(os.environ.get("BENCH_FILES", "20"))


def clips() -> list[Path]:
    files = sorted(p for p in MEDIA.iterdir() if p.suffix not in (".vtt", ".srt"))
    return [files[i % len(files)] for i in range(N)]


def summary(xs: list[float]) -> dict:
    xs = sorted(xs)
    return {"n": len(xs), "median_ms": round(statistics.median(xs) * 1000, 1),
            "p90_ms": round(xs[int(0.9 * (len(xs) - 1))] * 1000, 1), "min_ms": round(xs[0] * 1000, 1),
            "max_ms": round(xs[-1] * 1000, 1)}


async def wait_row(pool, key: str, statuses: tuple[str, ...], timeout: float = 60) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await pool.fetchval("SELECT 1 FROM jobs WHERE source_key = $1 AND status = ANY($2)", key, list(statuses)):
            return time.monotonic()
        await asyncio.sleep(0.005)
    raise TimeoutError(f"no job row for {key}")


async def inbox_run(settings: Settings, tmp: Path) -> dict:
    pool = await create_pool(settings.database.url or "")
    row, ingested, baseline = [], [], []
    client = store.make_client(settings)
    try:
        for i, src in enumerate(clips()):
            name = f"bench-{i:02d}{src.suffix}"
            staged = tmp / name
            shutil.copyfile(src, staged)
            t0 = time.monotonic()
            os.rename(staged, settings.inbox_dir / name)  # the file lands, complete
            key = f"raw/{name}"
            t_row = await wait_row(pool, key, ("validating", "pending", "failed"))
            t_ing = await wait_row(pool, key, ("pending", "failed"))
            row.append(t_row - t0)
            ingested.append(t_ing - t0)
            # baseline: the same bytes uploaded and probed with no pipeline around them
            b0 = time.monotonic()
            ref = store.upload_file(client, settings.s3.bucket, f"baseline/{name}", src)
            read_media(store.presigned_key_url(client, ref.bucket, ref.key))
            baseline.append(time.monotonic() - b0)
    finally:
        await pool.close()
    return {"row_exists": summary(row), "ingested": summary(ingested), "baseline_upload_probe": summary(baseline),
            "ratio_ingested_over_baseline": round(statistics.median(ingested) / statistics.median(baseline), 2)}


async def minio_run(settings: Settings) -> dict:
    pool = await create_pool(settings.database.url or "")
    client = store.make_client(settings)
    store.configure_notifications(client, settings.s3.bucket)
    row, ingested, put = [], [], []
    try:
        for i, src in enumerate(clips()):
            key = f"raw/minio-bench-{i:02d}{src.suffix}"
            t0 = time.monotonic()
            store.upload_file(client, settings.s3.bucket, key, src)
            put.append(time.monotonic() - t0)
            t_row = await wait_row(pool, key, ("validating", "pending", "failed"))
            t_ing = await wait_row(pool, key, ("pending", "failed"))
            row.append(t_row - t0)
            ingested.append(t_ing - t0)
    finally:
        await pool.close()
    return {"put_only": summary(put), "row_exists": summary(row), "ingested": summary(ingested)}


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
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        results["make_run_ready_seconds"] = readiness(tmp)
        base = loopback_settings(tmp / "data")
        with running_stack(base, service_logs=tmp / "logs") as (settings, _, _):
            time.sleep(1.0)
            results["inbox_seaweedfs"] = asyncio.run(inbox_run(settings, tmp))
        minio_bin = Path(os.environ.get("TFLOW_MINIO_BINARY") or ROOT / ".tools" / "bin" / "minio")
        if minio_bin.exists():
            nats_port = free_port()
            minio = MinioServer(minio_bin, tmp / "minio", f"127.0.0.1:{nats_port}", nats_user="minio",
                                nats_password=natsauth.credentials(tmp / "mdata" / "secrets")["minio"]).start()
            try:
                mbase = minio.settings(loopback_settings(tmp / "mdata", nats={"port": nats_port}))
                with running_stack(mbase, services=("ingest", "projector"), service_logs=tmp / "mlogs",
                                   extra_env={"TFLOW_SWEEP_INTERVAL_SECONDS": "0"}) as (settings, _, _):
                    time.sleep(1.0)
                    results["bucket_put_minio"] = asyncio.run(minio_run(settings))
            finally:
                minio.stop()
        else:
            results["bucket_put_minio"] = f"skipped: no MinIO binary at {minio_bin} (make minio)"
    write_results("ingest_latency", results)


if __name__ == "__main__":
    main()
