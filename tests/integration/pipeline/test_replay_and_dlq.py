"""Replays and dead letters (reliability findings: reprocessing was impossible by design:
completed tasks were skipped and completion ids carried no attempt; and a message whose
worker died on its last delivery left the job `processing` forever). On a stack of their
own: one test holds the transcoder stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from contracts import decode_job_event
from runtime.jetstream.connection import apply_consumer
from runtime.jetstream.definitions import consumer_config
from runtime.worker.deadletters import list_dead_letters
from tests.integration.conftest import job_by_key, started_stack, wait_for
from tests.media import media
from tests.support.own_stack import own_js, own_pool  # noqa: F401 - fixtures

pytestmark = pytest.mark.integration
CLIP = "valid/h264_1080x720_aac.flv"  # 1.1 s: 360p + 720p, MP3


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with started_stack(tmp_path_factory.mktemp("replay"), extra_env={"TFLOW_TRANSCRIPTION": "false"},
                       supervise=True) as s:
        yield s




def tflow(stack, *args: str) -> subprocess.CompletedProcess:
    """The real command line from another shell: only the data dir is known (the endpoints
    come from what `tflow up` recorded there)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TFLOW_")}
    env["TFLOW_DATA_DIR"] = str(stack.settings.data_dir)
    return subprocess.run([sys.executable, "-m", "ops.cli", *args], env=env, capture_output=True, text=True,
                          timeout=60)


async def tasks_of(pool, job_id) -> dict[str, tuple[str, int]]:
    rows = await pool.fetch("SELECT name, status, epoch FROM tasks WHERE job_id = $1", job_id)
    return {r["name"]: (r["status"], r["epoch"]) for r in rows}


async def history(js, job_id: str) -> list:
    """Every fact of the job on JOBS, in order (what `nats stream view` shows)."""
    sub = await js.subscribe(f"jobs.{job_id}.>", stream="JOBS", ordered_consumer=True)
    facts = []
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=1.0)
            except TimeoutError:
                return facts
            facts.append(decode_job_event(msg.data))
    finally:
        await sub.unsubscribe()


async def test_replaying_one_task_runs_it_again_as_a_new_epoch(stack, pool, js):
    stack.drop(media(CLIP), "replay-me.flv")
    job = await job_by_key(pool, "raw/replay-me.flv", ("completed",), timeout=120)
    before = stack.client().stat_object(stack.settings.s3.bucket, f"processed/{job['id']}/thumbnails/thumb_50.jpg")
    out = tflow(stack, "replay", str(job["id"]), "--task", "thumbnails", "--reason", "new thumbnails")
    assert out.returncode == 0, out.stderr
    assert "epoch 2 replays thumbnails, metadata" in out.stdout

    async def replayed():
        t = await tasks_of(pool, job["id"])
        return t if t["thumbnails"] == ("completed", 2) and t["metadata"] == ("completed", 2) else None
    tasks = await wait_for(replayed, 90, "thumbnails and metadata completed in epoch 2")
    assert tasks["video_360p"] == ("completed", 1) and tasks["hls_720p"] == ("completed", 1)  # not re-run
    row = await pool.fetchrow("SELECT status, epoch FROM jobs WHERE id = $1", job["id"])
    assert (row["status"], row["epoch"]) == ("completed", 2)
    after = stack.client().stat_object(stack.settings.s3.bucket, f"processed/{job['id']}/thumbnails/thumb_50.jpg")
    assert after.last_modified >= before.last_modified and after.etag  # written again
    facts = await history(js, str(job["id"]))
    kinds = [(type(f).__name__, getattr(f, "task", None), getattr(f, "epoch", None)) for f in facts]
    assert ("Replayed", None, 2) in kinds
    assert kinds.count(("TaskCompleted", "thumbnails", 1)) == 1 and ("TaskCompleted", "thumbnails", 2) in kinds
    assert ("TaskCompleted", "video_360p", 2) not in kinds
    # the whole job, again: every task in epoch 3
    out = tflow(stack, "replay", str(job["id"]))
    assert out.returncode == 0 and "epoch 3" in out.stdout, out.stderr

    async def all_again():
        t = await tasks_of(pool, job["id"])
        return t if all(v == ("completed", 3) for v in t.values()) else None
    await wait_for(all_again, 120, "every task completed in epoch 3")
    bad = tflow(stack, "replay", str(job["id"]), "--task", "no_such_task")
    assert bad.returncode == 1 and "has no task no_such_task" in bad.stderr


async def test_a_worker_hung_on_every_delivery_ends_in_a_failure_fact_a_dead_letter_and_a_redrive(stack, pool, js):
    cfg = consumer_config("JOBS", "transcoder_p05")  # the band of the default priority
    transcoder = stack.sup.procs["transcoder"]
    quick = type(cfg).from_response({**cfg.as_dict(), "max_deliver": 2, "ack_wait": 2 * 10**9})
    await apply_consumer(js, "JOBS", quick)
    os.kill(transcoder.pid, signal.SIGSTOP)  # hung: answers nothing
    try:
        async def no_pull_waiting():  # its last pull request expired: it holds no message either
            return (await js.consumer_info("JOBS", "transcoder_p05")).num_waiting == 0
        await wait_for(no_pull_waiting, 30, "the stopped transcoder's pull request expired")
        stack.drop(media(CLIP), "dead-letter.flv")
        job = await job_by_key(pool, "raw/dead-letter.flv", ("pending", "processing"), timeout=60)
        sub = await js.pull_subscribe_bind("transcoder_p05", "JOBS")
        delivered = 0
        deadline = time.monotonic() + 30
        while delivered < 2 and time.monotonic() < deadline:  # deliveries never acknowledged
            try:
                msgs = await sub.fetch(1, timeout=3)
            except TimeoutError:
                continue
            delivered = max([delivered, *(m.metadata.num_delivered for m in msgs
                                          if m.subject == f"jobs.{job['id']}.ingested.p05")])
        assert delivered == 2
        with pytest.raises(TimeoutError):  # a worker asking for work again: JetStream finds the message
            await sub.fetch(1, timeout=4)  # exhausted (no third delivery) and advises so
        await sub.unsubscribe()

        async def dead_letter():
            _, letters = await list_dead_letters(js, 20)
            return next((d for d in letters if d.job_id == str(job["id"]) and d.advisory.kind == "max_deliveries"),
                        None)
        letter = await wait_for(dead_letter, 30, "a max-deliveries advisory in DLQ")
    finally:
        await apply_consumer(js, "JOBS", cfg)
        os.kill(transcoder.pid, signal.SIGCONT)
    failed = await job_by_key(pool, "raw/dead-letter.flv", ("failed",), timeout=60)
    assert failed["error_code"] == "DeadLettered" and "2 deliveries" in failed["error_message"], dict(failed)
    listed = tflow(stack, "dlq", "list")
    assert listed.returncode == 0 and f"jobs.{job['id']}.ingested.p05" in listed.stdout, listed
    api = stack.api().get("/api/v1/admin/dead-letters").json()
    assert any(d["id"] == letter.seq and d["kind"] == "max_deliveries" and d["consumer"] == "transcoder_p05"
               for d in api["dead_letters"]), api
    out = tflow(stack, "dlq", "retry", str(letter.seq))
    assert out.returncode == 0 and "replay epoch 2" in out.stdout, (out.stdout, out.stderr)
    done = await job_by_key(pool, "raw/dead-letter.flv", ("completed",), timeout=120)
    assert done["epoch"] == 2
    assert json.loads(json.dumps(await tasks_of(pool, job["id"])))["video_360p"] == ["completed", 2]
