"""PRD FR-5.2 on the session's stack: with the transcoder busy and ten jobs of priority 1
queued, a job of priority 10 submitted last is the next the transcoder starts."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid

import pytest

from tests.integration.conftest import discard, job_by_key, wait_for
from tests.media import media

pytestmark = pytest.mark.integration

CLIP = "valid/h264_1080x720_aac.flv"  # 1.1 s: a short transcode each


def upload(stack, name: str, priority: int) -> str:
    with media(CLIP).open("rb") as f:
        r = stack.api().post("/api/v1/jobs/upload", files={"file": (name, f, "video/x-flv")},
                             data={"priority": str(priority)})
    assert r.status_code == 202, r.text
    assert r.json()["priority"] == priority
    return r.json()["job_id"]


async def started_at(pool, job_id: str):
    return await pool.fetchval("SELECT started_at FROM tasks WHERE job_id = $1 AND name = 'video_360p'",
                               uuid.UUID(job_id))


async def test_a_critical_job_submitted_last_is_transcoded_next(stack, pool):
    tag = uuid.uuid4().hex[:6]
    busy = upload(stack, f"prio-{tag}-busy.flv", 5)
    await wait_for(lambda: started_at(pool, busy), 60, "the transcoder busy with the first job")
    transcoder = stack.sup.procs["transcoder"]
    os.kill(transcoder.pid, signal.SIGSTOP)  # it holds the busy job: nothing else is taken meanwhile
    try:
        low = [await asyncio.to_thread(upload, stack, f"prio-{tag}-low-{i}.flv", 1) for i in range(10)]
        critical = await asyncio.to_thread(upload, stack, f"prio-{tag}-critical.flv", 10)
        for job in [*low, critical]:  # all queued: ingested (the thumbnailer and transcriber may have started
            # theirs), waiting for the transcoder
            await job_by_key(pool, f"raw/{f'prio-{tag}-'}" + ("critical.flv" if job == critical else
                                                              f"low-{low.index(job)}.flv"), ("pending", "processing"), 30)
            assert await started_at(pool, job) is None
    finally:
        os.kill(transcoder.pid, signal.SIGCONT)
    first = await wait_for(lambda: started_at(pool, critical), 60, "the critical job's transcode started")
    low_starts = [await started_at(pool, j) for j in low]
    assert all(s is None or s > first for s in low_starts), (first, low_starts)
    row = await pool.fetchrow("SELECT priority FROM jobs WHERE id = $1", uuid.UUID(critical))
    assert row["priority"] == 10
    for job in low:  # their work is not needed: free the workers for the other tests
        await discard(stack, job)
    done = await job_by_key(pool, f"raw/prio-{tag}-critical.flv", ("completed", "failed"), timeout=120)
    assert done["status"] == "completed", dict(done)
