"""Fault injection (slow): over a batch of real jobs, `kill -9` each worker type and each
server once mid-job, on a supervised stack as `tflow up` runs it. Every job completes,
every output decodes, the bucket holds exactly the keys the tasks wrote (no duplicates,
no leftovers), no job directory is left behind, and the read model equals a rebuild from
the stream. Recovery times are measured (not asserted) and written to
`bench/results/faults-<time>.json`."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import m3u8
import pytest

from contracts import layout
from runtime.jetstream.connection import connect
from runtime.storage import store
from tests.integration.conftest import started_stack, wait_for
from tests.integration.pipeline.test_media_e2e import decode_all
from tests.integration.pipeline.test_projector import assert_rebuild_reproduces
from tests.media import media
from tests.support.own_stack import own_pool  # noqa: F401 - fixtures

pytestmark = [pytest.mark.integration, pytest.mark.slow]
LONG = "valid/bbb_1280x720_30s_vp8_vorbis.webm"  # 30 s: long enough to be killed mid-encode
SHORT = "valid/friday_640x480_speech_h264_aac.mp4"  # 6.2 s with speech: transcription has work
#: (what is killed, its kind, the clip of the job in flight, the task that must be running)
FAULTS = [
    ("transcoder", "service", LONG, "video_720p"),
    ("nats", "server", LONG, "video_720p"),
    ("finalizer", "service", SHORT, None),
    ("postgres", "server", LONG, "video_720p"),
    ("thumbnailer", "service", SHORT, None),
    ("minio", "server", LONG, "video_720p"),
    ("transcriber", "service", SHORT, "transcription"),
    ("ingest", "service", SHORT, "ingest"),
    ("projector", "service", SHORT, None),
]
RESULTS = Path(__file__).parents[3] / "bench" / "results"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with started_stack(tmp_path_factory.mktemp("faults"), supervise=True) as s:
        yield s



def process(stack, name: str):
    return stack.servers.procs[name] if name in stack.servers.procs else stack.sup.procs[name]


async def restarted(stack, name: str, old_pid: int) -> float:
    """Seconds until the supervisor runs a new `name`."""
    t0 = time.monotonic()

    async def new():
        p = process(stack, name)
        return p.pid != old_pid and p.poll() is None
    await wait_for(new, 60, f"{name} restarted")
    return time.monotonic() - t0


async def row(pool, sql: str, *args):
    try:
        return await pool.fetchrow(sql, *args)
    except Exception:  # noqa: BLE001 - Postgres is one of the things killed here
        return None


async def in_flight(pool, key: str, task: str | None) -> dict:
    """The job of `key` once `task` is running on it (None: once the job is processing)."""
    async def probe():
        job = await row(pool, "SELECT id, status FROM jobs WHERE source_key = $1", key)
        if job is None or job["status"] != "processing":
            return None
        if task is None:
            return dict(job)
        t = await row(pool, "SELECT status, progress_percent FROM tasks WHERE job_id = $1 AND name = $2",
                      job["id"], task)
        return dict(job) if t is not None and t["status"] == "processing" and t["progress_percent"] > 5 else None
    return await wait_for(probe, 180, f"{task or 'the job'} of {key} running")


def bucket_keys(stack, job_id) -> set[str]:
    return {o.key for o in store.list_objects(stack.client(), stack.settings.s3.bucket,
                                                       layout.processed_prefix(str(job_id)))}


def expected_keys(stack, job_id, tasks) -> set[str]:
    """What the job's completed tasks wrote: their outputs, each HLS playlist's segments
    and I-frame playlist, the master playlist and (with a transcript) the subtitles
    playlist and its WebVTT."""
    keys = {o["key"] for t in tasks for o in t["outputs"]}
    for t in tasks:
        if t["name"].startswith("hls_"):
            key = t["outputs"][0]["key"]
            text = stack.client().get_object(stack.settings.s3.bucket, key).read().decode()
            keys |= {key.rsplit("/", 1)[0] + "/" + s.uri for s in m3u8.loads(text).segments}
            keys.add(t["details"]["iframe_playlist_key"])
    keys.add(layout.master_key(str(job_id)))
    if any(t["name"] == layout.TRANSCRIPTION_TASK for t in tasks):
        keys |= {layout.subtitles_playlist_key(str(job_id)), layout.subtitles_vtt_key(str(job_id))}
    return keys


@pytest.mark.timeout(1200)
async def test_kill_9_of_every_worker_and_server_mid_job(stack, pool, tmp_path):
    recovery: dict[str, dict[str, float | str]] = {}
    jobs: dict[str, str] = {}
    for i, (name, kind, clip, task) in enumerate(FAULTS):
        key = f"fault-{i}-{name}{Path(clip).suffix}"
        if task == "ingest":  # ingest is killed while it examines the dropped file
            proc = process(stack, name)
            stack.drop(media(clip), key)
            await asyncio.sleep(0.2)
        else:
            stack.drop(media(clip), key)
            await in_flight(pool, f"raw/{key}", task)
            proc = process(stack, name)
        killed, killed_wall = time.monotonic(), datetime.now(UTC)
        os.kill(proc.pid, signal.SIGKILL)
        back = await restarted(stack, name, proc.pid)
        jobs[key] = name
        recovery[name] = {"kind": kind, "clip": Path(clip).name, "restarted_s": round(back, 2), "killed_at": killed}

        async def moving(key: str = key, since: datetime = killed_wall):
            r = await row(pool, "SELECT updated_at FROM jobs WHERE source_key = $1", f"raw/{key}")
            return r["updated_at"] if r is not None and r["updated_at"] > since else None
        # the first fact of the job after the kill, in the read model: the pipeline moves again
        recovery[name]["job_moving_again_s"] = round(
            ((await wait_for(moving, 120, f"job of {key} moving after {name} was killed")) - killed_wall)
            .total_seconds(), 2)
        if name == "transcoder":  # its message is redelivered to the new worker: measure how soon
            async def redelivered(key: str = key) -> bool:
                r = await row(pool, "SELECT t.attempts FROM tasks t JOIN jobs j ON j.id = t.job_id "
                              "WHERE j.source_key = $1 AND t.name = 'video_720p'", f"raw/{key}")
                return r is not None and r["attempts"] >= 2
            await wait_for(redelivered, 60, "the encode redelivered")
            recovery[name]["redelivered_s"] = round(time.monotonic() - killed, 2)

    async def all_done():
        rows = await row(pool, "SELECT count(*) FILTER (WHERE status = 'completed') AS done, "
                         "count(*) FILTER (WHERE status IN ('failed', 'cancelled')) AS bad FROM jobs")
        return rows is not None and (rows["bad"] > 0 or rows["done"] == len(jobs))
    await wait_for(all_done, 600, "every job of the batch terminal")
    finished = {r["source_key"]: r for r in await pool.fetch("SELECT * FROM jobs")}
    for key, name in jobs.items():
        job = finished[f"raw/{key}"]
        assert job["status"] == "completed", (name, job["error_code"], job["error_message"])
        recovery[name]["job_completed_s"] = round(
            (job["completed_at"] - job["created_at"]).total_seconds(), 2)
        tasks = [dict(t) for t in await pool.fetch("SELECT * FROM tasks WHERE job_id = $1", job["id"])]
        assert all(t["status"] == "completed" for t in tasks), (name, [(t["name"], t["status"]) for t in tasks])
        assert bucket_keys(stack, job["id"]) == expected_keys(stack, job["id"], tasks), name
        for t in tasks:
            for o in t["outputs"]:
                if o["key"].endswith((".mp4", ".mp3")):
                    url = stack.client().presigned_get_object(stack.settings.s3.bucket, o["key"])
                    frames, _ = await asyncio.to_thread(decode_all, url)
                    assert frames > 0, o["key"]
                elif o["key"].endswith("/segments/playlist.m3u8"):  # the whole rendition, segment by segment
                    folder = tmp_path / str(job["id"]) / t["name"]
                    folder.mkdir(parents=True)
                    prefix = o["key"].rsplit("/", 1)[0] + "/"
                    for k in {k for k in bucket_keys(stack, job["id"]) if k.startswith(prefix)}:
                        stack.client().fget_object(stack.settings.s3.bucket, k, str(folder / k.rsplit("/", 1)[1]))
                    frames, _ = await asyncio.to_thread(decode_all, str(folder / "playlist.m3u8"))
                    assert frames > 0, o["key"]
    assert not [p.name for p in stack.work_dir.glob("tflow-*")], "job directories left behind"

    nc = await connect(stack.settings, "tests")
    try:
        await assert_rebuild_reproduces(pool, nc.jetstream(), stack.settings)
    finally:
        await nc.close()

    for r in recovery.values():
        r.pop("killed_at")
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    (RESULTS / f"faults-{stamp}.json").write_text(json.dumps({"recovery": recovery}, indent=2) + "\n")
    print("\nfault recovery (s):", json.dumps(recovery, indent=2))
