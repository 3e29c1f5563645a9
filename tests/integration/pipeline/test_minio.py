"""The bucket-event path of the session stack's MinIO: a PUT under videos/raw/ -> MinIO's
NATS JetStream target -> MINIO stream -> ingest -> JOBS -> projector -> Postgres."""

from __future__ import annotations

import time

import pytest

from runtime.storage import store
from tests.integration.conftest import ACCEPTED, discard, job_by_key
from tests.media import media

pytestmark = pytest.mark.integration


async def test_put_into_minio_becomes_a_job_through_its_bucket_event(stack, pool):
    client, bucket = stack.client(), stack.settings.s3.bucket
    src = media("valid/friday_640x480_speech_h264_aac.mp4")
    key = "raw/Via MinIO+notification.mp4"
    started = time.monotonic()
    ref = store.upload_file(client, bucket, key, src)
    job = await job_by_key(pool, key, timeout=30)
    latency = time.monotonic() - started
    await discard(stack, job["id"])
    # the event, not the sweep (which leaves objects younger than its grace to their event)
    assert job["origin"] == "bucket" and job["status"] in ACCEPTED
    assert job["source_etag"] == ref.etag and (job["width"], job["height"]) == (640, 480)
    print(f"MinIO PUT -> job row: {latency * 1000:.0f} ms")
    # not under raw/: no job; the same content under another key: another job
    store.upload_file(client, bucket, "elsewhere/x.mp4", src)
    ref2 = store.upload_file(client, bucket, "raw/second-via-minio.mp4", src)
    second = await job_by_key(pool, "raw/second-via-minio.mp4")
    await discard(stack, second["id"])
    assert ref2.etag == ref.etag and second["id"] != job["id"] and second["origin"] == "bucket"
    assert await pool.fetchval("SELECT count(*) FROM jobs WHERE source_key = 'elsewhere/x.mp4'") == 0
