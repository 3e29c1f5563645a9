"""Outages by kind on a supervised stack of its own (issue 28): NATS stalled with SIGSTOP
mid-job, and the work dir full. Each is waited out by itself: no service restarts, the
job completes, nothing partial is left in the bucket, and `/health` says what happened.
The figures (time to complete after the stall, time to recover after space returns) are
printed and written to `bench/results/outages-<time>.json`."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import started_stack, wait_for
from tests.integration.operations.test_faults import LONG, bucket_keys, expected_keys, in_flight
from tests.media import media
from tests.support.own_stack import own_pool  # noqa: F401 - fixtures

pytestmark = [pytest.mark.integration, pytest.mark.slow]
RESULTS = Path(__file__).parents[3] / "bench" / "results"
STALL_SECONDS = 20
FIGURES: dict[str, object] = {}


#: The work dir of this module's stack: a tmpfs this small, so a test can fill it.
WORK_TMPFS_SIZE = "96m"
#: What the workers need free before a task (TFLOW_MIN_FREE_BYTES) on that tmpfs.
MIN_FREE = 8_000_000


@pytest.fixture(scope="module")
def tmpfs_work(tmp_path_factory):
    """A `WORK_TMPFS_SIZE` tmpfs for the work dir, or None where mount(8) is not allowed."""
    path = tmp_path_factory.mktemp("outages-work")
    mounted = mount_tmpfs(path, WORK_TMPFS_SIZE)
    yield path if mounted else None
    if mounted:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, tmpfs_work):
    env = {"TFLOW_MIN_FREE_BYTES": str(MIN_FREE)}
    if tmpfs_work is not None:
        env["TFLOW_WORK_DIR"] = str(tmpfs_work)
    with started_stack(tmp_path_factory.mktemp("outages"), supervise=True, extra_env=env) as s:
        yield s
    if FIGURES:
        RESULTS.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        (RESULTS / f"outages-{stamp}.json").write_text(json.dumps(FIGURES, indent=2) + "\n")
        print("\noutages:", json.dumps(FIGURES, indent=2))


def pids(stack) -> dict[str, int]:
    return {n: p.pid for n, p in stack.sup.procs.items()}


def tracebacks(stack) -> list[str]:
    """Service log lines that are not JSON (a traceback printed by a crash)."""
    bad = []
    for f in stack.logs.glob("*.log"):
        for line in f.read_text(errors="replace").splitlines():
            if line.strip() and not line.lstrip().startswith("{"):
                bad.append(f"{f.name}: {line}")
    return bad


async def finished(pool, job_id, timeout: float) -> dict:
    async def done():
        row = await pool.fetchrow("SELECT * FROM jobs WHERE id = $1", job_id)
        return dict(row) if row is not None and row["status"] in ("completed", "failed", "cancelled") else None
    return await wait_for(done, timeout, f"job {job_id} finished")  # type: ignore[return-value]


@pytest.mark.timeout(400)
async def test_a_nats_stall_mid_encode_is_ridden_out_without_a_restart_or_a_redo(stack, pool):
    before = pids(stack)
    stack.drop(media(LONG), "stall.webm")
    job = await in_flight(pool, "raw/stall.webm", "video_720p")
    nats = stack.servers.procs["nats"]
    os.kill(nats.pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(STALL_SECONDS)
        with httpx.Client(base_url=stack.api_url, timeout=30) as api:
            started = time.monotonic()
            health = api.get("/health")
            health_s = time.monotonic() - started
    finally:
        os.kill(nats.pid, signal.SIGCONT)
    resumed = datetime.now(UTC)
    assert health.status_code == 503 and health.json()["services"]["nats"] == "down", health.text
    done = await finished(pool, job["id"], 300)
    assert done["status"] == "completed", (done["error_code"], done["error_message"])
    assert pids(stack) == before, "a service exited during the stall"
    tasks = [dict(t) for t in await pool.fetch("SELECT * FROM tasks WHERE job_id = $1", job["id"])]
    assert [(t["name"], t["error_code"]) for t in tasks if t["error_code"]] == [], "a stale error on a completed task"
    encodes = {t["name"]: t["attempts"] for t in tasks if t["name"].startswith("video_")}
    assert set(encodes.values()) == {1}, f"the encode was redone: {encodes}"
    assert bucket_keys(stack, job["id"]) == expected_keys(stack, job["id"], tasks)
    assert stack.api().get("/health").json()["status"] == "healthy"
    assert tracebacks(stack) == []
    assert health_s < 9, f"/health took {health_s:.1f}s while NATS was stalled"
    FIGURES["nats_stall"] = {"stall_s": STALL_SECONDS, "clip": Path(LONG).name, "health_answer_s": round(health_s, 2),
                             "completed_after_resume_s": round((done["completed_at"] - resumed).total_seconds(), 2),
                             "job_total_s": round((done["completed_at"] - done["created_at"]).total_seconds(), 2)}


def mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def fill(path: Path, leave: int) -> Path:
    """A file on `path`'s filesystem that leaves `leave` bytes free."""
    filler = path / "filler.bin"
    free = os.statvfs(path).f_bavail * os.statvfs(path).f_frsize
    with filler.open("wb") as f:
        os.posix_fallocate(f.fileno(), 0, max(0, free - leave))
    return filler


@pytest.mark.timeout(400)
async def test_a_full_work_dir_is_waited_out_leaves_nothing_partial_and_refuses_uploads_with_507(
        stack, pool, tmpfs_work):
    if tmpfs_work is None:
        pytest.skip("mount -t tmpfs is not allowed here (not root): the full-disk test needs a small filesystem")
    before = pids(stack)
    stack.drop(media(LONG), "full.webm")
    job = await in_flight(pool, "raw/full.webm", "video_720p")
    filler = fill(tmpfs_work, 1_000_000)
    filled = time.monotonic()

    seen: list[object] = []

    async def waiting():
        row = await pool.fetchrow("SELECT error_code, error_message, status FROM tasks WHERE job_id = $1 "
                                  "AND name = 'video_720p'", job["id"])
        seen[:] = [dict(row) if row is not None else None]
        return dict(row) if row is not None and row["error_code"] == "disk_full" else None
    try:
        try:
            task = await wait_for(waiting, 60, "the encode failing with disk_full")
        except AssertionError as e:  # say what happened instead
            said = [line[:300] for line in (stack.logs / "transcoder.log").read_text(errors="replace").splitlines()
                    if '"WARNING"' in line or '"ERROR"' in line]
            raise AssertionError(f"{e}; the task: {seen}; the transcoder said: {said[-6:]}") from None
        assert task["status"] == "pending" and "free of" in task["error_message"], task
        assert "/" not in task["error_message"], task["error_message"]  # no local paths in a reason
        health = stack.api().get("/health").json()
        assert health["status"] == "degraded" and health["services"]["disk"] == "full", health
        assert any("transcoder" in r and "free" in r for r in health["reasons"]), health["reasons"]
        # nothing partial stays: the attempt's segments and playlists are removed, no master names them
        await asyncio.sleep(2)
        left = {k for k in bucket_keys(stack, job["id"]) if "/segments/" in k or k.endswith("master.m3u8")}
        assert left == set(), left
        body = media(LONG).read_bytes() + b"\0" * 8_000_000
        r = stack.api().post("/api/v1/jobs/upload", files={"file": ("big.webm", body, "video/webm")})
        assert r.status_code == 507, r.text
        assert r.json()["error"]["code"] == "insufficient_storage" and r.json()["error"]["details"]["free_bytes"] >= 0
        assert (await pool.fetchval("SELECT status FROM jobs WHERE id = $1", job["id"])) == "processing"
        full_for = time.monotonic() - filled
    finally:
        filler.unlink()
    freed = datetime.now(UTC)
    done = await finished(pool, job["id"], 300)
    assert done["status"] == "completed", (done["error_code"], done["error_message"])
    assert pids(stack) == before, "a service exited"
    tasks = [dict(t) for t in await pool.fetch("SELECT * FROM tasks WHERE job_id = $1", job["id"])]
    assert [(t["name"], t["error_code"]) for t in tasks if t["error_code"]] == []
    assert bucket_keys(stack, job["id"]) == expected_keys(stack, job["id"], tasks)
    empty = [o.object_name for o in stack.client().list_objects(stack.settings.s3.bucket, f"processed/{job['id']}/",
                                                                recursive=True)
             if o.size == 0 and o.object_name.endswith((".m3u8", ".ts", ".mp4", ".mp3", ".jpg"))]
    assert empty == [], "an empty playlist or media object was stored"
    assert stack.api().get("/health").json()["status"] == "healthy"
    FIGURES["disk_full"] = {"clip": Path(LONG).name, "work_dir": WORK_TMPFS_SIZE, "held_full_s": round(full_for, 2),
                            "completed_after_space_returned_s": round((done["completed_at"] - freed).total_seconds(), 2),
                            "attempts": {t["name"]: t["attempts"] for t in tasks if t["name"].startswith("video_")}}
