"""The client libraries against the live stack: the Python package (sync and async) and
the TypeScript package (Node's test runner), each with a real clip from upload to a
downloaded 360p MP4 that decodes."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import av
import httpx
import pytest
from transcode_flow_client import AsyncClient, Client, Conflict, Gone, NotFound, PayloadTooLarge

from tests.media import media

pytestmark = pytest.mark.integration
CLIP = "valid/h264_1080x720_aac.flv"
JS_CLIENT = Path(__file__).resolve().parents[3] / "clients" / "javascript"


def new_key(stack, **extra) -> dict:
    r = stack.api().post("/api/v1/admin/api-keys", json={"name": f"client-{uuid.uuid4().hex[:6]}", **extra})
    assert r.status_code == 201, r.text
    return r.json()


def decodes(path: Path) -> int:
    """Frames of the whole video stream (raises on a broken file)."""
    with av.open(str(path)) as c:
        assert c.streams.video[0].height == 360
        return sum(1 for _ in c.decode(video=0))


@pytest.fixture(scope="module")
def python_job(stack) -> dict:
    """A clip uploaded with the sync client (streamed, with a progress callback)."""
    key = new_key(stack)
    sent_bytes: list[tuple[int, int]] = []
    with Client(stack.api_url, key["api_key"]) as tf:
        job = tf.upload_video(media(CLIP), "py-client.flv", priority=4, metadata={"client": "python"},
                              on_progress=lambda done, total: sent_bytes.append((done, total)))
    return {"key": key, "job": job, "sent": sent_bytes}


def test_python_client_from_upload_to_a_360p_mp4_that_decodes(stack, python_job, tmp_path):
    job, key = python_job["job"], python_job["key"]
    assert job.status == "pending" and job.priority == 4 and job.filename == "py-client.flv"
    size = media(CLIP).stat().st_size
    assert python_job["sent"][-1] == (size, size) and len(python_job["sent"]) >= 2  # streamed in chunks
    with Client(stack.api_url, key["api_key"]) as tf:
        events = list(tf.stream_progress(job.job_id))
        assert events[-1].event == "complete" and events[-1].status == "completed" and events[-1].progress == 100
        done = tf.wait_for_completion(job.job_id, timeout=300, poll_interval=0.5)
        assert done.status == "completed" and done.user_metadata == {"client": "python"}
        assert done.tasks[0].name == "validate_video" and {t.name for t in done.tasks} >= {"transcode_360p"}
        assert job.job_id in {j.job_id for j in tf.list_jobs(status="completed", per_page=200).jobs}
        url = tf.get_download_url(job.job_id, "360p")
        out = tmp_path / "py-360p.mp4"
        out.write_bytes(httpx.get(url.download_url, timeout=60).content)
        assert decodes(out) > 10
        stream = tf.get_streaming_token(job.job_id, "360p")
        assert "#EXT-X-ENDLIST" in httpx.get(stream.playlist_url, timeout=10).text
        with pytest.raises(Conflict) as conflict:
            tf.cancel_job(job.job_id)
        assert conflict.value.code == "conflict"
        with pytest.raises(NotFound):
            tf.get_job(str(uuid.UUID(int=1)))


async def test_async_client_then_delete_and_a_typed_quota_error(stack, python_job):
    job, key = python_job["job"], python_job["key"]
    async with AsyncClient(stack.api_url, key["api_key"]) as tf:
        final = await tf.wait_for_completion(job.job_id, timeout=300, poll_interval=0.5)
        assert final.status == "completed" and final.outputs and final.outputs["360p"]["video"]["size_bytes"] > 0
        events = [e async for e in tf.stream_progress(job.job_id)]
        assert [e.event for e in events] == ["complete"] and events[0].status == "completed"
        page = await tf.list_jobs(per_page=10)
        assert page.total == 1 and page.jobs[0].job_id == job.job_id
        assert (await tf.get_download_url(job.job_id, "audio")).download_url.startswith("http")
        deleted = await tf.delete_job(job.job_id, delete_files=True)
        assert deleted["status"] == "deleted" and deleted["deleted_objects"] > 10
        with pytest.raises(Gone):
            await tf.get_job(job.job_id)
    size = media(CLIP).stat().st_size
    small = new_key(stack, storage_quota_bytes=size - 1)
    async with AsyncClient(stack.api_url, small["api_key"]) as tf:
        with pytest.raises(PayloadTooLarge) as refused:
            await tf.upload_video(media(CLIP), "async-client-2.flv")
        assert refused.value.code == "quota_exceeded" and refused.value.details["quota_bytes"] == size - 1


def test_typescript_client_in_node(stack, tmp_path):
    node = shutil.which("node")
    if node is None or not (JS_CLIENT / "dist" / "index.js").exists():
        pytest.skip("Node.js or the built TypeScript client (make clients) is missing")
    key = new_key(stack)
    out = tmp_path / "ts-360p.mp4"
    env = {**os.environ, "TFLOW_API_URL": stack.api_url, "TFLOW_API_KEY": key["api_key"],
           "TFLOW_CLIP": str(media(CLIP)), "TFLOW_OUT": str(out)}
    run = subprocess.run([node, "--test", "test/"], cwd=JS_CLIENT, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "# pass 2" in run.stdout and "# skipped 0" in run.stdout, run.stdout[-2000:]
    assert decodes(out) > 10
