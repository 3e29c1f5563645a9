"""The projector: stream order, exact resume, and a rebuild that reproduces the live tables."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import timedelta

import pytest

from contracts import (
    Ingested,
    ObjectRef,
    OutputInfo,
    PlannedTask,
    Probe,
    Received,
    TaskCompleted,
    TaskFailed,
    TaskProgress,
    TaskStarted,
    TranscriptResult,
    VideoInfo,
    decode_job_event,
    job_id_for,
    utcnow,
)
from ops.stack import service_env
from runtime.worker.facts import JetStreamFacts
from tests.integration.conftest import ACCEPTED, job_by_key, wait_for
from tests.media import media

pytestmark = pytest.mark.integration


async def caught_up(pool, js) -> int:
    """The checkpoint once it reaches the stream's last sequence of now. At least, not
    exactly: a batch may carry it past that sequence while workers keep publishing."""
    last = (await js.stream_info("JOBS")).state.last_seq

    async def probe():
        seq = await pool.fetchval("SELECT last_seq FROM projector_checkpoint WHERE projection = 'jobs'")
        return seq if seq >= last else None
    return await wait_for(probe, 30, f"projector at sequence {last}")


async def quiescent(pool, js, timeout: float = 240) -> int:
    """Every job terminal and the projector at the stream's end: nothing will publish."""
    live = ("SELECT id, status, source_key, current_task FROM jobs WHERE status NOT IN ('completed', 'failed', "
            "'cancelled', 'deleted')")

    async def idle():
        return not await pool.fetch(live)
    try:
        await wait_for(idle, timeout, "every job terminal")
    except AssertionError as e:
        raise AssertionError(f"{e}: still running {[dict(r) for r in await pool.fetch(live)]}") from None
    return await caught_up(pool, js)


async def assert_rebuild_reproduces(pool, js, settings) -> None:
    """Once quiescent, `tflow projector rebuild` (as the projector's NATS user) leaves the
    read model exactly as the live projector made it."""
    await quiescent(pool, js)
    live = await snapshot(pool)
    out = subprocess.run([sys.executable, "-m", "ops.cli", "projector", "rebuild"],
                         env=service_env(settings, role="projector"), capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    assert await snapshot(pool) == live, "the read model differs from a rebuild of the stream"


async def snapshot(pool):
    jobs = [dict(r) for r in await pool.fetch("SELECT * FROM jobs ORDER BY id")]
    tasks = [dict(r) for r in await pool.fetch("SELECT * FROM tasks ORDER BY job_id, name")]
    lines = [dict(r) for r in await pool.fetch("SELECT * FROM transcript_lines ORDER BY job_id, line")]
    facts = [dict(r) for r in await pool.fetch("SELECT * FROM job_facts ORDER BY job_id, seq")]
    return jobs, tasks, lines, facts


async def test_task_facts_fold_into_job_progress_and_state(stack, pool, js):
    """Facts are the interface: a job whose plan names tasks no running worker takes
    (`captions_*`) is driven by facts published here."""
    ref = ObjectRef(bucket=stack.settings.s3.bucket, key="raw/synthetic.mp4", etag="f" * 32, size=10)
    jid = job_id_for(ref)
    probe = Probe(container="mov,mp4,m4a,3gp,3g2,mj2", duration_seconds=5.0, size_bytes=10,
                  video=VideoInfo(codec="h264", width=640, height=360, display_width=640, display_height=360, fps=25))
    plan = [PlannedTask(name="captions_a", kind="transcription"),
            PlannedTask(name="captions_b", kind="transcription")]
    t0 = utcnow()
    facts = JetStreamFacts(js, "test")
    await facts.publish(Received(job_id=jid, at=t0, source=ref, origin="api"))
    await facts.publish(Ingested(job_id=jid, at=t0, source=ref, origin="api", probe=probe, plan=plan))
    await facts.publish(TaskStarted(job_id=jid, at=t0 + timedelta(seconds=1), task="captions_a"))
    await facts.publish(TaskProgress(job_id=jid, at=t0 + timedelta(seconds=2), task="captions_a", percent=40,
                                         speed=1.5, eta_seconds=4))
    await facts.publish(TaskFailed(job_id=jid, at=t0 + timedelta(seconds=3), task="captions_b", code="io",
                                       message="store unreachable", permanent=False))

    async def processing():
        return await pool.fetchrow("SELECT * FROM jobs WHERE id = $1 AND status = 'processing' AND "
                                   "progress_percent > 0", uuid.UUID(jid))
    row = await wait_for(processing, 10, "job processing")
    assert row["current_task"] == "captions_a" and row["progress_percent"] == pytest.approx(20.0)
    task = await pool.fetchrow("SELECT * FROM tasks WHERE job_id = $1 AND name = 'captions_b'", uuid.UUID(jid))
    assert (task["status"], task["error_code"]) == ("pending", "io")
    for i, name in enumerate(("captions_a", "captions_b")):
        await facts.publish(TaskCompleted(job_id=jid, at=t0 + timedelta(seconds=4 + i), task=name, outputs=[
            OutputInfo(key=f"processed/{jid}/{name}", size_bytes=1, kind="test")], result=TranscriptResult(
                language="en", language_probability=1.0, word_count=3, model="tiny.en")))

    async def completed():
        return await pool.fetchrow("SELECT * FROM jobs WHERE id = $1 AND status = 'completed'", uuid.UUID(jid))
    row = await wait_for(completed, 10, "job completed")
    assert row["progress_percent"] == 100.0 and row["completed_at"] == t0 + timedelta(seconds=5)
    assert row["word_count"] == 3


async def test_rebuild_from_the_stream_equals_the_live_tables(stack, pool, js):
    stack.drop(media("valid/mpeg4asp_960x400_mp3.avi"), "rebuild-good.avi")
    stack.drop(media("bad/vp6_112x80_too_small.flv"), "rebuild-bad.flv")
    stack.drop(media("valid/friday_640x480_speech_h264_aac.mp4"), "rebuild-speech.mp4")
    await job_by_key(pool, "raw/rebuild-good.avi")
    await job_by_key(pool, "raw/rebuild-bad.flv")
    speech = await job_by_key(pool, "raw/rebuild-speech.mp4")
    before_seq = await quiescent(pool, js)
    before = await snapshot(pool)
    assert len(before[0]) >= 3 and before[1], "the rebuild must have jobs and tasks to rebuild"
    # the search index and the timelines are rebuilt too (from transcript_text and every other fact)
    assert any(line["job_id"] == speech["id"] for line in before[2]) and before[3]
    env = service_env(stack.settings, role="projector")
    out = subprocess.run([sys.executable, "-m", "ops.cli", "projector", "rebuild"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"up to sequence {before_seq}" in out.stdout
    after_seq = await caught_up(pool, js)
    after = await snapshot(pool)
    assert after_seq == before_seq, "nothing else may publish while this test compares"
    assert after == before
    # the O(1) list totals agree with the rows
    counts = {(str(r["api_key_id"]), r["status"]): r["n"] for r in
              await pool.fetch("SELECT * FROM job_counts WHERE n <> 0")}
    truth = {(str(r["k"]), r["status"]): r["n"] for r in await pool.fetch(
        "SELECT coalesce(api_key_id, '00000000-0000-0000-0000-000000000000') AS k, status, count(*) AS n "
        "FROM jobs GROUP BY 1, 2")}
    assert counts == truth and sum(truth.values()) == len(after[0])
    word = next(w for line in after[2] if line["job_id"] == speech["id"] for w in line["text"].split() if len(w) > 3)
    with stack.api() as api:
        hits = api.get("/api/v1/search", params={"q": word.strip(".,!?")}).json()["results"]
    assert str(speech["id"]) in [h["job_id"] for h in hits]


async def test_projector_restart_resumes_exactly(stack, pool, js):
    """Stop the projector, publish facts, start it: they are applied once, in order."""
    proc = stack.sup.procs["projector"]
    proc.terminate()
    proc.wait(15)
    before = (await js.stream_info("JOBS")).state.last_seq
    stack.drop(media("valid/h264_1080x720_aac.flv"), "while-projector-down.flv")

    async def received_on_the_stream() -> bool:
        last = (await js.stream_info("JOBS")).state.last_seq
        for seq in range(before + 1, last + 1):
            fact = decode_job_event((await js.get_msg("JOBS", seq)).data)
            if isinstance(fact, Received) and fact.source.key == "raw/while-projector-down.flv":
                return True
        return False

    await wait_for(received_on_the_stream, 30, "the drop's received fact on JOBS")
    # the fact is on the stream and the projector is down: its absence in Postgres is the projector's
    assert await pool.fetchval("SELECT count(*) FROM jobs WHERE source_key = 'raw/while-projector-down.flv'") == 0
    stack.sup.check()  # the supervisor restarts it
    job = await job_by_key(pool, "raw/while-projector-down.flv")
    assert job["status"] in ACCEPTED
    await caught_up(pool, js)
