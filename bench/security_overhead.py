"""What closing the doors costs, each against a baseline in the same run:

  - NATS: connect time and JetStream publish latency as a role user (bcrypt password,
    allow-listed subjects) vs an unauthenticated server, both the same nats-server binary;
  - HLS through stream tokens: rewriting a one-hour media playlist (360 segments) to
    presigned URLs, per request, vs reading it as it is;
  - metadata checks: `parse_metadata` (depth scan + Postgres-safe text + finite numbers)
    vs a bare `json.loads` of the same 16 KiB document;
  - `tflow up` readiness on a fresh data directory (secrets, hashes and certificates are
    generated) and on a warm restart.
Prints the figures and writes JSON to bench/results/.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
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
from ingest_latency import readiness  # noqa: E402
from minio import Minio  # noqa: E402
from report import write_results  # noqa: E402

from intake.submission import parse_metadata  # noqa: E402
from media.hls import rewrite_uris  # noqa: E402
from ops import natsauth  # noqa: E402
from ops.processes import stop_process  # noqa: E402
from ops.secrets import private_file  # noqa: E402
from ops.stack import LOOPBACK, free_port, wait_for_port  # noqa: E402

CONNECTS, PUBLISHES = 20, 2000


def _nats_binary() -> str:
    return str(Path(sys.executable).parent / "nats-server")


async def _nats_figures(url: str, **auth: str) -> dict:
    connect = []
    for _ in range(CONNECTS):
        t0 = time.perf_counter()
        nc = await nats.connect(url, **auth)
        connect.append(time.perf_counter() - t0)
        await nc.close()
    nc = await nats.connect(url, **auth)
    js = nc.jetstream()
    job = "00000000-0000-0000-0000-000000000001"
    lat = []
    for i in range(PUBLISHES):
        t0 = time.perf_counter()
        await js.publish(f"jobs.{job}.task_progress.video_360p", b'{"n":%d}' % i)
        lat.append(time.perf_counter() - t0)
    await nc.close()
    lat.sort()
    return {"connect_ms_median": round(statistics.median(connect) * 1000, 2),
            "publish_ms_median": round(statistics.median(lat) * 1000, 3),
            "publish_ms_p99": round(lat[int(len(lat) * 0.99)] * 1000, 3)}


async def _with_server(tmp: Path, authed: bool) -> dict:
    port = free_port()
    store = tmp / ("authed" if authed else "open")
    store.mkdir()
    if authed:
        conf = store / "server.conf"
        private_file(conf, natsauth.server_config(host=LOOPBACK, port=port, store_dir=store, secrets_dir=tmp / "s"))
        cmd = [_nats_binary(), "-c", str(conf)]
    else:
        cmd = [_nats_binary(), "-a", LOOPBACK, "-p", str(port), "-js", "-sd", str(store)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, 20, proc)
        url = f"nats://{LOOPBACK}:{port}"
        admin = {"user": natsauth.ADMIN, "password": natsauth.credentials(tmp / "s")[natsauth.ADMIN]} if authed else {}
        nc = await nats.connect(url, **admin)
        await nc.jetstream().add_stream(name="JOBS", subjects=["jobs.>"])
        await nc.close()
        role = {"user": "transcoder", "password": natsauth.credentials(tmp / "s")["transcoder"]} if authed else {}
        return await _nats_figures(url, **role)
    finally:
        stop_process(proc, "nats")


def _playlist(segments: int) -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:6", "#EXT-X-TARGETDURATION:10", "#EXT-X-PLAYLIST-TYPE:VOD"]
    for i in range(segments):
        lines += ["#EXTINF:10.000000,", f"segment_{i:03d}.ts"]
    return "\n".join([*lines, "#EXT-X-ENDLIST"]) + "\n"


def _hls_figures() -> dict:
    from datetime import timedelta

    client = Minio("127.0.0.1:9", access_key="AKBENCH", secret_key="s" * 40, secure=False, region="us-east-1")
    text = _playlist(360)
    base = "processed/00000000-0000-0000-0000-000000000001/360p/segments/"

    def sign(uri: str) -> str:
        return client.presigned_get_object("videos", base + uri, expires=timedelta(hours=1))

    runs = 20
    t0 = time.perf_counter()
    for _ in range(runs):
        rewritten = rewrite_uris(text, sign)
    per_rewrite = (time.perf_counter() - t0) / runs
    t0 = time.perf_counter()
    for _ in range(runs):
        plain = text.encode().decode()
    per_read = (time.perf_counter() - t0) / runs
    assert rewritten.count("X-Amz-Signature=") == 360 and plain
    return {"segments": 360, "rewrite_ms": round(per_rewrite * 1000, 2),
            "per_segment_us": round(per_rewrite / 360 * 1e6, 1), "as_is_ms": round(per_read * 1000, 4),
            "bytes_as_is": len(text), "bytes_rewritten": len(rewritten)}


def _metadata_figures() -> dict:
    doc = {f"field_{i}": {"title": "lecture " * 8, "tags": ["a", "b", "c"], "n": i} for i in range(128)}
    text = json.dumps(doc)
    assert 15_000 < len(text) <= 16_384, len(text)
    runs = 300
    t0 = time.perf_counter()
    for _ in range(runs):
        json.loads(text)
    bare = (time.perf_counter() - t0) / runs
    t0 = time.perf_counter()
    for _ in range(runs):
        parse_metadata(text, 16_384)
    checked = (time.perf_counter() - t0) / runs
    return {"bytes": len(text), "json_loads_us": round(bare * 1e6, 1), "parse_metadata_us": round(checked * 1e6, 1),
            "ratio": round(checked / bare, 2)}


def main() -> None:
    results: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()}}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        open_, authed = asyncio.run(_with_server(tmp, False)), asyncio.run(_with_server(tmp, True))
        results["nats"] = {"open": open_, "role_user": authed,
                           "connect_ratio": round(authed["connect_ms_median"] / open_["connect_ms_median"], 2),
                           "publish_ratio": round(authed["publish_ms_median"] / open_["publish_ms_median"], 2)}
        results["hls_stream_token_playlist"] = _hls_figures()
        results["metadata_checks"] = _metadata_figures()
        results["make_run_ready_seconds"] = readiness(tmp)
    write_results("security_overhead", results)


if __name__ == "__main__":
    main()
