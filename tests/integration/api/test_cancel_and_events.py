"""Cancelling a running job stops its ffmpeg within seconds; SSE follows it to the end."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import psutil
import pytest

from tests.integration.conftest import job_by_key, wait_for
from tests.media import media

pytestmark = pytest.mark.integration


def ffmpeg_for(key: str) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["name", "cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if "ffmpeg" in (p.info["name"] or "") and key in cmd:
            found.append(p)
    return found


async def sse_events(stack, job_id: str, out: list) -> None:
    async with httpx.AsyncClient(base_url=stack.api_url, headers={"X-API-Key": stack.admin_key}, timeout=120) as c:
        async with c.stream("GET", f"/api/v1/jobs/{job_id}/events") as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            event = None
            async for line in r.aiter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    out.append((event, json.loads(line[6:])))


async def test_cancel_stops_work_within_seconds_and_sse_ends_with_it(stack, pool):
    stack.drop(media("valid/hevc_1440x1074_noaudio_subs.mkv"), "cancel-me.mkv")
    job = await job_by_key(pool, "raw/cancel-me.mkv")
    jid = str(job["id"])
    events: list = []
    follower = asyncio.create_task(sse_events(stack, jid, events))

    async def encoding():
        return await pool.fetchval("SELECT progress_percent FROM tasks WHERE job_id = $1 AND name = 'video_360p' "
                                   "AND status = 'processing' AND progress_percent > 0", job["id"])
    await wait_for(encoding, 120, "the transcode running")
    assert ffmpeg_for("raw/cancel-me.mkv"), "ffmpeg should be running for this job"
    t0 = time.monotonic()
    r = await asyncio.to_thread(stack.api().delete, f"/api/v1/jobs/{jid}")
    assert r.status_code == 200 and r.json() == {"message": "Job cancelled successfully", "job_id": jid,
                                                 "status": "cancelled"}  # PRD §4

    async def stopped():
        return not ffmpeg_for("raw/cancel-me.mkv")
    await wait_for(stopped, 10, "ffmpeg of the cancelled job gone")
    stop_seconds = time.monotonic() - t0

    async def cancelled():
        return await pool.fetchrow("SELECT * FROM jobs WHERE id = $1 AND status = 'cancelled'", job["id"])
    row = await wait_for(cancelled, 10, "job cancelled")
    assert row["error_code"] == "cancelled"
    print(f"ffmpeg stopped {stop_seconds:.2f}s after DELETE")
    async def cleaned():
        return not list(stack.work_dir.glob(f"*{jid}*"))
    await wait_for(cleaned, 10, "temp files of the cancelled job removed")
    r = await asyncio.to_thread(stack.api().delete, f"/api/v1/jobs/{jid}")
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
    await asyncio.wait_for(follower, 30)
    assert events[-1][0] == "complete" and events[-1][1]["status"] == "cancelled"
    assert any(e == "progress" and d["status"] == "processing" for e, d in events)
    # nothing is produced afterwards: the job stays cancelled
    await asyncio.sleep(2)
    assert await pool.fetchval("SELECT status FROM jobs WHERE id = $1", job["id"]) == "cancelled"


def test_cancel_unknown_job_is_404(stack):
    import uuid
    assert stack.api().delete(f"/api/v1/jobs/{uuid.uuid4()}").status_code == 404

