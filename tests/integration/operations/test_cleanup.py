"""Retention and cleanup (issue 28, PRD §6.2) on the session's stack: old temp files and
logs go, a failed job older than its retention is deleted with its outputs (a `deleted`
fact), an API-uploaded original is removed only when its retention is set (an
`original_removed` fact; the job stays), a dry run removes nothing, and a rebuild of the
read model reproduces every deletion."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from contracts import layout, utcnow
from ops.stack import service_env
from runtime.storage import store
from runtime.worker.facts import JetStreamFacts
from services.projector.cleanup import apply, plan
from tests.integration.conftest import discard, job_by_key, wait_for
from tests.integration.pipeline.test_projector import assert_rebuild_reproduces
from tests.media import media

pytestmark = pytest.mark.integration
DAY = 86400


def aged(path, days: float):
    t = time.time() - days * DAY
    os.utime(path, (t, t))
    return path


async def test_cleanup_removes_what_retention_says_and_a_dry_run_nothing(stack, pool, js):
    bucket, client = stack.settings.s3.bucket, stack.client()
    # a temp dir a dead worker left two days ago, a fresh one, and a log file 100 days old
    old = stack.work_dir / "tflow-transcoder-999999-cleanup-x"
    old.mkdir(parents=True)
    (old / "segment_000.ts").write_bytes(b"x" * 100)
    aged(old, 2)
    fresh = stack.work_dir / "tflow-upload-cleanup-fresh"
    fresh.mkdir()
    logs = stack.settings.data_dir / "logs"
    logs.mkdir(exist_ok=True)
    log = logs / "transcoder.log.3"
    log.write_text("{}\n")
    aged(log, 100)
    # a failed job (a rejected drop) with an output of its own, and an API upload, cancelled
    stack.drop(media("bad/vp6_112x80_too_small.flv"), "cleanup-small.flv")
    failed = await job_by_key(pool, "raw/cleanup-small.flv", ("failed",))
    store.put_bytes(client, bucket, layout.processed_prefix(str(failed["id"])) + "note.json", b"{}")
    r = stack.api().post("/api/v1/jobs/upload",
                         files={"file": ("cleanup-upload.mp4", media("valid/friday_640x480_speech_h264_aac.mp4")
                                         .read_bytes(), "video/mp4")})
    assert r.status_code in (200, 201, 202), r.text
    uploaded_id = r.json()["job_id"]
    await discard(stack, uploaded_id)
    uploaded = await pool.fetchrow("SELECT * FROM jobs WHERE id = $1", uploaded_id)

    env = {**service_env(stack.settings, role="projector"), "TFLOW_WORK_DIR": str(stack.work_dir)}
    dry = subprocess.run([sys.executable, "-m", "ops.cli", "cleanup", "--dry-run"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    assert f"would remove temp         {old}" in dry.stdout and f"would remove log          {log}" in dry.stdout, \
        dry.stdout
    assert str(fresh) not in dry.stdout and "nothing removed" in dry.stdout
    assert old.exists() and log.exists()

    # a month from now, with the API's originals kept 1 day: only this test's jobs are taken
    settings = stack.settings.updated(upkeep={"api_source_retention_days": 1.0}, worker={"work_dir": stack.work_dir})
    removals = [x for x in await plan(settings, pool, utcnow() + timedelta(days=31))
                if x.target in (str(old), str(log), str(failed["id"]), uploaded_id)]
    assert {(x.kind, x.target) for x in removals} == {
        ("temp", str(old)), ("log", str(log)), ("failed_job", str(failed["id"])), ("api_original", uploaded_id)}
    counts = await apply(removals, client, bucket, JetStreamFacts(js, "tests"))
    assert counts == {"temp": 1, "log": 1, "failed_job": 1, "api_original": 1}
    assert not old.exists() and not log.exists() and fresh.exists()
    assert list(store.list_objects(client, bucket, layout.processed_prefix(str(failed["id"])))) == []
    assert store.stat(client, bucket, failed["source_key"]) is not None, "a failed job's original is kept"
    assert store.stat(client, bucket, uploaded["source_key"]) is None, "the API's original was not removed"

    async def folded():
        a = await pool.fetchrow("SELECT status FROM jobs WHERE id = $1", failed["id"])
        b = await pool.fetchrow("SELECT status, original_removed_at FROM jobs WHERE id = $1", uploaded_id)
        return a["status"] == "deleted" and b["original_removed_at"] is not None and b["status"] == "cancelled"
    await wait_for(folded, 30, "the deletions folded")
    assert stack.api().get(f"/api/v1/jobs/{failed['id']}").status_code == 410
    assert stack.api().get(f"/api/v1/jobs/{uploaded_id}").status_code == 200
    shutil.rmtree(fresh)
    await assert_rebuild_reproduces(pool, js, stack.settings)


async def test_a_referenced_original_is_never_removed_by_retention(stack, pool, js):
    """An object submitted by reference (POST /jobs/minio) is the caller's, not the API's:
    retention of the API's originals leaves it."""
    bucket, client = stack.settings.s3.bucket, stack.client()
    key = "uploads/admin/cleanup-ref.mp4"
    store.upload_file(client, bucket, key, media("valid/friday_640x480_speech_h264_aac.mp4"))
    r = stack.api().post("/api/v1/jobs/minio", json={"bucket": bucket, "object_key": key})
    if r.status_code == 404:
        pytest.skip(f"references under {key} are not allowed by this stack's TFLOW_REFERENCE_PREFIXES")
    assert r.status_code in (200, 201, 202), r.text
    job_id = r.json()["job_id"]
    await discard(stack, job_id)
    settings = stack.settings.updated(upkeep={"api_source_retention_days": 1.0})
    removals = [x for x in await plan(settings, pool, utcnow() + timedelta(days=2)) if x.target == job_id]
    counts = await apply(removals, client, bucket, JetStreamFacts(js, "tests"))
    assert counts.get("api_original", 0) == 0 and store.stat(client, bucket, key) is not None
