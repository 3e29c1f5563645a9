"""Every way in is one job per object: MinIO-shaped notifications, announcements, the sweep."""

from __future__ import annotations

import io
import json

import pytest

from contracts import ObjectRef, job_id_for
from runtime.jetstream.connection import announce_object
from runtime.storage import store
from tests.integration.conftest import ACCEPTED, discard, job_by_key, wait_for
from tests.media import media

pytestmark = pytest.mark.integration


def s3_note(bucket: str, key: str, etag: str, size: int, event: str = "s3:ObjectCreated:Put") -> bytes:
    from urllib.parse import quote_plus

    return json.dumps({"EventName": event, "Key": f"{bucket}/{key}", "Records": [{
        "eventVersion": "2.0", "eventSource": "minio:s3", "eventName": event,
        "s3": {"bucket": {"name": bucket}, "object": {"key": quote_plus(key), "size": size, "eTag": etag}}}]}).encode()


async def facts(js, job_id: str) -> dict[str, int]:
    info = await js.stream_info("JOBS", subjects_filter=f"jobs.{job_id}.>")
    return dict(info.state.subjects or {})


async def test_put_announced_three_ways_is_one_job(stack, pool, js):
    """A direct PUT, then a bucket notification, a drop-folder-style and an API-style
    announcement of the same object: one job, one received/ingested fact."""
    src = media("valid/h264_1920x1080_50fps_pcm.mov")
    key = "raw/Three ways+one job.mov"
    client = stack.client()
    ref = store.upload_file(client, stack.settings.s3.bucket, key, src)
    await js.publish("minio.events", s3_note(ref.bucket, key, ref.etag, ref.size))
    await announce_object(js, ref, "api")
    await announce_object(js, ref, "inbox")
    job = await job_by_key(pool, key)
    await discard(stack, job["id"])
    assert str(job["id"]) == job_id_for(ref)
    await wait_for(lambda: _origin_settled(js, job_id_for(ref)), 10, "facts published")
    counts = await facts(js, job_id_for(ref))
    assert counts[f"jobs.{job['id']}.received"] == 1 and counts[f"jobs.{job['id']}.ingested.p05"] == 1
    assert await pool.fetchval("SELECT count(*) FROM jobs WHERE source_key = $1", key) == 1


async def _origin_settled(js, job_id):
    return f"jobs.{job_id}.ingested.p05" in await facts(js, job_id)


async def test_direct_put_without_notification_is_found_by_the_sweep(stack, pool):
    """A store that sends no event (here MinIO with its event rule removed, as root) still
    gets its objects in: the reconcile sweep finds them."""
    src = media("valid/msmpeg4v2_640x360_noaudio.avi")
    key = "raw/swept/no-notification.avi"
    root, bucket = stack.servers.root_client(), stack.settings.s3.bucket
    root.delete_bucket_notification(bucket)
    try:
        store.upload_file(stack.client(), bucket, key, src)
    finally:
        store.configure_notifications(root, bucket)
    job = await job_by_key(pool, key, timeout=20)
    await discard(stack, job["id"])
    assert job["origin"] == "sweep" and job["status"] in ACCEPTED


async def test_other_prefixes_event_types_and_buckets_are_ignored(stack, pool, js):
    client = stack.client()
    data = b"x" * 1000
    client.put_object(stack.settings.s3.bucket, "processed/elsewhere.mp4", io.BytesIO(data), len(data))
    st = store.stat(client, stack.settings.s3.bucket, "processed/elsewhere.mp4")
    await js.publish("minio.events", s3_note(stack.settings.s3.bucket, "processed/elsewhere.mp4", st.etag, 1000))
    await js.publish("minio.events", s3_note(stack.settings.s3.bucket, "raw/tagged.mp4", "e1", 10,
                                             event="s3:ObjectCreated:PutTagging"))
    await js.publish("minio.events", s3_note("another-bucket", "raw/x.mp4", "e2", 10))
    await js.publish("minio.events", b"this is not an S3 event")
    # a marker object published after them proves they were consumed
    marker = store.upload_file(client, stack.settings.s3.bucket, "raw/marker.flv", media("valid/h264_1080x720_aac.flv"))
    await js.publish("minio.events", s3_note(marker.bucket, marker.key, marker.etag, marker.size))
    await discard(stack, (await job_by_key(pool, "raw/marker.flv"))["id"])
    for key in ("processed/elsewhere.mp4", "raw/tagged.mp4", "raw/x.mp4"):
        assert await pool.fetchval("SELECT count(*) FROM jobs WHERE source_key = $1", key) == 0


async def test_object_deleted_before_ingest_is_rejected_as_missing(stack, pool, js):
    ref = ObjectRef(bucket=stack.settings.s3.bucket, key="raw/gone.mp4", etag="0" * 32, size=123)
    await announce_object(js, ref, "api")
    job = await job_by_key(pool, "raw/gone.mp4")
    assert (job["status"], job["error_code"]) == ("failed", "source_missing")
