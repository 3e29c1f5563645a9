"""The projector: stream order, exact resume, and a rebuild that reproduces the live tables."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import timedelta

import pytest

from contracts import OutputInfo, TaskCompleted, TaskFailed, TaskProgress, TaskStarted, utcnow
from tests.integration.conftest import job_by_key, wait_for
from tests.media import media
from tflow.natsio import publish_event
from tflow.stack import service_env

pytestmark = pytest.mark.integration


async def caught_up(pool, js) -> int:
    last = (await js.stream_info("JOBS")).state.last_seq

    async def probe():
        return await pool.fetchval("SELECT last_seq FROM projector_checkpoint WHERE projection = 'jobs'") == last
    await wait_for(probe, 30, f"projector at sequence {last}")
    return last


async def snapshot(pool):
    jobs = [dict(r) for r in await pool.fetch("SELECT * FROM jobs ORDER BY id")]
    tasks = [dict(r) for r in await pool.fetch("SELECT * FROM tasks ORDER BY job_id, name")]
    return jobs, tasks


async def test_task_facts_fold_into_job_progress_and_state(stack, pool, js):
    stack.drop(media("valid/friday_640x480_speech_h264_aac.mp4"), "proj-friday.mp4")
    job = await job_by_key(pool, "raw/proj-friday.mp4")
    jid = str(job["id"])
    t0 = utcnow()
    await publish_event(js, TaskStarted(job_id=jid, at=t0, task="video_360p", worker="test"), "test")
    await publish_event(js, TaskProgress(job_id=jid, at=t0 + timedelta(seconds=1), task="video_360p", percent=40,
                                         speed=1.5, eta_seconds=4), "test")
    await publish_event(js, TaskFailed(job_id=jid, at=t0 + timedelta(seconds=2), task="thumbnails", code="io",
                                       message="store unreachable", permanent=False), "test")

    async def processing():
        return await pool.fetchrow("SELECT * FROM jobs WHERE id = $1 AND status = 'processing'", job["id"])
    row = await wait_for(processing, 10, "job processing")
    n_tasks = await pool.fetchval("SELECT count(*) FROM tasks WHERE job_id = $1", job["id"])
    assert row["current_task"] == "video_360p" and row["progress_percent"] == pytest.approx(40 / n_tasks, abs=0.01)
    task = await pool.fetchrow("SELECT * FROM tasks WHERE job_id = $1 AND name = 'thumbnails'", job["id"])
    assert (task["status"], task["error_code"]) == ("pending", "io")
    # complete every planned task: the job completes
    for i, name in enumerate(r["name"] for r in await pool.fetch("SELECT name FROM tasks WHERE job_id = $1",
                                                                   job["id"])):
        await publish_event(js, TaskCompleted(job_id=jid, at=t0 + timedelta(seconds=3 + i), task=name, outputs=[
            OutputInfo(key=f"processed/{jid}/{name}", size_bytes=1, kind="test")]), "test")

    async def completed():
        return await pool.fetchrow("SELECT * FROM jobs WHERE id = $1 AND status = 'completed'", job["id"])
    row = await wait_for(completed, 10, "job completed")
    assert row["progress_percent"] == 100.0 and row["completed_at"] is not None


async def test_rebuild_from_the_stream_equals_the_live_tables(stack, pool, js):
    stack.drop(media("valid/mpeg4asp_960x400_mp3.avi"), "rebuild-good.avi")
    stack.drop(media("bad/vp6_112x80_too_small.flv"), "rebuild-bad.flv")
    await job_by_key(pool, "raw/rebuild-good.avi")
    await job_by_key(pool, "raw/rebuild-bad.flv")
    await caught_up(pool, js)
    before_seq = await caught_up(pool, js)
    before = await snapshot(pool)
    assert len(before[0]) >= 2 and before[1], "the rebuild must have jobs and tasks to rebuild"
    env = service_env(stack.settings)
    out = subprocess.run([sys.executable, "-m", "tflow.cli", "projector", "rebuild"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"up to sequence {before_seq}" in out.stdout
    after_seq = await caught_up(pool, js)
    after = await snapshot(pool)
    assert after_seq == before_seq, "nothing else may publish while this test compares"
    assert after == before


async def test_projector_restart_resumes_exactly(stack, pool, js):
    """Stop the projector, publish facts, start it: they are applied once, in order."""
    proc = stack.sup.procs["projector"]
    proc.terminate()
    proc.wait(15)
    stack.drop(media("valid/h264_1080x720_aac.flv"), "while-projector-down.flv")
    await asyncio.sleep(2)
    assert await pool.fetchval("SELECT count(*) FROM jobs WHERE source_key = 'raw/while-projector-down.flv'") == 0
    stack.sup.check()  # the supervisor restarts it
    job = await job_by_key(pool, "raw/while-projector-down.flv")
    assert job["status"] == "pending"
    await caught_up(pool, js)
