"""The API contract on the live stack: the user guide's routes as its commands use them
(keys with `read`/`write` scopes and per-minute limits, upload, status, paging, SSE with
`?api_key=`, streaming tokens that play, downloads, cancel, delete), storage quotas, the
PRD's stats, and the FR-6.1 job report in SQL."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx
import m3u8
import pytest
import pytest_asyncio

from contracts import Deleted, decode_job_event, layout
from services.api.models import Accepted, JobDocument, JobList, Stats
from tests.integration.conftest import discard, job_by_key, wait_for
from tests.media import media

pytestmark = pytest.mark.integration
CLIP = "valid/h264_1080x720_aac.flv"


def guide_key(stack, **body) -> dict:
    """A key made the user guide's way: `POST /api-keys/` with its scopes."""
    r = stack.api().post("/api-keys/", json={"name": f"guide-{uuid.uuid4().hex[:6]}", **body})
    assert r.status_code == 201, r.text
    return r.json()


def upload(api: httpx.Client, name: str, **data) -> httpx.Response:
    with media(CLIP).open("rb") as f:
        return api.post("/api/upload", files={"file": (name, f, "video/x-flv")}, data=data, timeout=60)


async def completed(pool, key: str, timeout: float = 240):
    return await job_by_key(pool, key, ("completed",), timeout)


@pytest_asyncio.fixture(scope="module")
async def guide(stack, pool) -> dict:
    """One job submitted the user guide's way and followed to its end over SSE (key in the
    query string, as EventSource sends it): the key, the 202 body, the events, the row."""
    key = guide_key(stack, scopes=["read", "write"], rate_limit_per_minute=1000)
    r = upload(stack.api(key["api_key"]), "guide-quick.flv", priority="7",
               metadata=json.dumps({"campaign_id": "2025-Q1"}))
    assert r.status_code == 202, r.text
    body = r.json()
    events: list[tuple[str, dict]] = []

    async def follow() -> None:
        async with httpx.AsyncClient(base_url=stack.api_url, timeout=300) as c, c.stream(
                "GET", f"/api/events/{body['job_id']}/progress", params={"api_key": key["api_key"]}) as s:
            assert s.status_code == 200 and s.headers["content-type"].startswith("text/event-stream")
            name = None
            async for line in s.aiter_lines():
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    events.append((name, json.loads(line[6:])))
    follower = asyncio.create_task(follow())
    row = await completed(pool, f"raw/tenants/{key['id']}/guide-quick.flv")
    await asyncio.wait_for(follower, 60)
    return {"key": key, "body": body, "events": events, "row": row, "api": stack.api(key["api_key"])}


async def test_the_user_guide_quick_start_works_as_written(stack, guide):
    key, events, api = guide["key"], guide["events"], guide["api"]
    assert key["scopes"] == ["jobs:read", "jobs:write"] and key["api_key"].startswith("tf_")
    assert key["warning"].startswith("Save this key") and key["rate_limit_per_minute"] == 1000
    body = Accepted.model_validate(guide["body"])
    assert (body.status, body.filename, body.priority) == ("pending", "guide-quick.flv", 7)
    assert events[0][1]["status"] in ("pending", "validating", "processing")  # from the first moment on
    assert events[-1][0] == "complete" and events[-1][1]["status"] == "completed"
    assert events[-1][1]["progress"] == 100.0
    running = [d["progress"] for e, d in events if e == "progress" and d["status"] == "processing"]
    assert running and running == sorted(running), running  # progress only grows
    # the key in the query string is in no log line (the access log is on in tests)
    logged = "".join(p.read_text(errors="replace") for p in stack.logs.glob("*.log"))
    assert f"/api/events/{body.job_id}/progress?api_key=[redacted]" in logged
    assert key["api_key"] not in logged and key["api_key"][3:] not in logged
    # status, paging, downloads
    doc = api.get(f"/api/jobs/{body.job_id}").json()
    JobDocument.model_validate(doc)
    assert doc["status"] == "completed" and doc["user_metadata"] == {"campaign_id": "2025-Q1"} and doc["priority"] == 7
    page = JobList.model_validate(api.get("/api/jobs", params={"status": "completed", "page": 1,
                                                               "per_page": 1}).json())
    assert page.per_page == 1 and len(page.jobs) == 1 and page.jobs[0].job_id == body.job_id
    for file_type, suffix in (("360p", ".mp4"), ("audio", ".mp3"), ("transcript_vtt", ".vtt"),
                              ("thumbnail", ".jpg"), ("metadata", ".json")):
        if file_type == "transcript_vtt" and not doc["outputs"]["transcription"]:
            continue
        d = api.get(f"/api/jobs/{body.job_id}/download/{file_type}").json()
        got = httpx.get(d["download_url"], timeout=30)
        assert got.status_code == 200 and d["key"].endswith(suffix) and len(got.content) > 0, (file_type, d)
    # a streaming token: the playlist URL plays (master -> media playlist -> every segment)
    tok = api.get(f"/api/streaming/token/{body.job_id}/master").json()
    assert tok["token"] in tok["playlist_url"] and tok["expires_at"]
    master = m3u8.loads(httpx.get(tok["playlist_url"], timeout=10).text, uri=tok["playlist_url"])
    assert [p.stream_info.resolution[1] for p in master.playlists] == [360, 720]
    r360 = api.get(f"/api/streaming/token/{body.job_id}/360p").json()
    media_pl = m3u8.loads(httpx.get(r360["playlist_url"], timeout=10).text)
    assert media_pl.is_endlist and media_pl.segments
    assert all(httpx.get(s.uri, timeout=10).status_code == 200 for s in media_pl.segments)
    assert api.get(f"/api/streaming/token/{body.job_id}/1080p").status_code == 404


async def test_stats_in_the_prd_shape_and_the_fr_6_1_report(pool, guide):
    api, row, jid = guide["api"], guide["row"], guide["body"]["job_id"]
    s = Stats.model_validate(api.get("/api/v1/stats").json())
    assert s.total_jobs == s.completed == 1 and s.total_input_tb == round(row["file_size_bytes"] / 1e12, 6)
    assert s.total_output_tb > 0 and s.avg_processing_time_minutes is not None
    assert s.worker_utilization_percent is None or 0 <= s.worker_utilization_percent <= 100
    report = await pool.fetchrow("SELECT * FROM job_report WHERE id = $1", row["id"])
    doc = api.get(f"/api/v1/jobs/{jid}").json()
    out = doc["outputs"]
    assert report["output_360p_path"] == out["360p"]["video"]["key"]
    assert report["output_720p_size_bytes"] == out["720p"]["video"]["size_bytes"]
    assert report["output_hls_360p_path"] == out["360p"]["streaming"]["key"]
    assert report["segments_720p_count"] == out["720p"]["streaming"]["segment_count"]
    assert report["segments_360p_size_bytes"] > 0 and report["metadata_json_path"] == out["metadata_json"]["key"]
    assert report["compression_ratio_720p"] == doc["compression"]["720p_ratio"]
    assert abs(report["total_saved_percent"] - doc["compression"]["total_saved_percent"]) < 0.11
    assert report["thumbnail_path"] == out["thumbnails"]["primary"]["key"]
    assert report["transcode_360p_time_seconds"] > 0 and report["retry_count"] == doc["retry_count"] == 0
    assert report["source_resolution"] == doc["video_info"]["resolution"] and report["status"] == "completed"


async def test_delete_removes_outputs_hides_the_job_and_is_a_fact(stack, pool, js, guide):
    api, row, jid = guide["api"], guide["row"], guide["body"]["job_id"]
    prefix = layout.processed_prefix(jid)
    client = stack.client()
    assert list(client.list_objects(stack.settings.s3.bucket, prefix=prefix, recursive=True))
    r = api.delete(f"/api/jobs/{jid}", params={"delete_files": "true"})
    assert r.status_code == 200, r.text
    gone = r.json()
    assert gone["status"] == "deleted" and not gone["was_cancelled"] and gone["deleted_objects"] > 10
    assert not gone["original_deleted"]
    assert not list(client.list_objects(stack.settings.s3.bucket, prefix=prefix, recursive=True))
    assert client.stat_object(stack.settings.s3.bucket, row["source_key"]).size == row["file_size_bytes"]  # original kept
    # the fact, and the read model folded from it
    fact = decode_job_event((await js.get_last_msg("JOBS", f"jobs.{jid}.deleted")).data)
    assert isinstance(fact, Deleted) and fact.files_deleted and not fact.original_deleted
    await wait_for(lambda: pool.fetchval("SELECT status = 'deleted' FROM jobs WHERE id = $1", row["id"]), 10,
                   "job deleted in the read model")
    assert api.get(f"/api/jobs/{jid}").status_code == 410
    assert jid not in {j["job_id"] for j in api.get("/api/v1/jobs", params={"per_page": 200}).json()["jobs"]}
    assert api.get(f"/api/jobs/{jid}/download/360p").status_code == 410
    assert api.get("/api/v1/stats").json()["total_jobs"] == 0
    again = upload(api, "guide-quick.flv")  # the same file under the same name is the same (deleted) job
    assert again.status_code == 409 and again.json()["error"]["code"] == "job_deleted", again.text
    renamed = upload(api, "guide-quick-again.flv")  # under another name it is a new job
    assert renamed.status_code == 202 and renamed.json()["job_id"] != jid
    await job_by_key(pool, f"raw/tenants/{guide['key']['id']}/guide-quick-again.flv")
    await discard(stack, renamed.json()["job_id"])


async def test_cancel_of_the_user_guide_and_delete_of_a_running_job(stack, pool):
    key = guide_key(stack, scopes=["read", "write"])
    api = stack.api(key["api_key"])
    first = upload(api, "guide-cancel.flv").json()["job_id"]
    now = api.get(f"/api/jobs/{first}")  # at once: the accepted job is visible, before any fact is projected
    assert now.status_code == 200 and now.json()["status"] in ("pending", "validating", "processing"), now.text
    JobDocument.model_validate(now.json())
    for _ in range(50):
        r = api.post(f"/api/jobs/{first}/cancel")
        if r.json().get("error", {}).get("code") != "not_ready":  # accepted a moment ago: retry as it says
            break
        assert r.status_code == 409 and r.headers["retry-after"] == "1"
        await asyncio.sleep(0.1)
    assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text
    second = upload(api, "guide-running.flv", priority="1").json()["job_id"]
    row = await job_by_key(pool, f"raw/tenants/{key['id']}/guide-running.flv", ("processing", "completed"), 120)
    r = api.delete(f"/api/jobs/{second}", params={"delete_original": "true", "delete_files": "true"})
    assert r.status_code == 200, r.text
    assert r.json()["original_deleted"] and r.json()["was_cancelled"] == (row["status"] == "processing")
    assert store_missing(stack, f"raw/tenants/{key['id']}/guide-running.flv")
    # whatever a worker still uploaded after the cancel is removed too
    await asyncio.sleep(12)
    assert not list(stack.client().list_objects(stack.settings.s3.bucket, prefix=layout.processed_prefix(second),
                                                recursive=True))


def store_missing(stack, key: str) -> bool:
    from runtime.storage import store
    return store.stat(stack.client(), stack.settings.s3.bucket, key) is None


def test_storage_quota_refuses_the_upload_that_would_pass_it(stack):
    size = media(CLIP).stat().st_size
    key = guide_key(stack, scopes=["read", "write"], storage_quota_bytes=size + size // 2)
    api = stack.api(key["api_key"])
    assert upload(api, "quota-1.flv").status_code == 202
    r = upload(api, "quota-2.flv")
    assert r.status_code == 413, r.text
    err = r.json()["error"]
    assert err["code"] == "quota_exceeded" and "storage quota" in err["message"]
    assert err["details"]["used_bytes"] == size and err["details"]["quota_bytes"] == size + size // 2
    usage = stack.api().get(f"/api-keys/{key['id']}/usage").json()
    assert usage["bytes"] == size and usage["jobs"] == 1 and usage["remaining_bytes"] == size // 2
    assert usage["requests"] >= 2 and usage["days"][0]["bytes_uploaded"] == size


def test_a_per_minute_limit_answers_429_with_retry_after(stack):
    while time.time() % 60 > 50:  # the five requests fall in one minute window
        time.sleep(1)
    key = guide_key(stack, scopes=["read"], rate_limit_per_minute=3)
    api = stack.api(key["api_key"])
    codes = [api.get("/api/jobs").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    r = api.get("/api/jobs")
    assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 60
    assert "per minute" in r.json()["error"]["message"]


async def test_a_submission_from_the_prd_examples(stack, pool):
    """The PRD §4 MinIO and filesystem examples, field for field; then its list and DELETE."""
    (stack.fs_root / "prd.flv").write_bytes(media(CLIP).read_bytes())
    r = stack.api().post("/api/v1/jobs/filesystem", json={
        "file_path": str(stack.fs_root / "prd.flv"), "priority": 5, "metadata": {
            "title": "Video from filesystem", "description": "Description here", "tags": ["tag1", "tag2"]}})
    assert r.status_code == 202, r.text
    doc = r.json()
    assert {"job_id", "status", "message", "priority"} <= set(doc) and doc["priority"] == 5
    listed = stack.api().get("/api/v1/jobs", params={"status": "pending", "limit": 50, "offset": 0,
                                                     "sort": "priority", "order": "desc"}).json()
    assert {"total", "limit", "offset", "jobs"} <= set(listed)
    await job_by_key(pool, "raw/prd.flv")
    await discard(stack, doc["job_id"])


def test_a_rendition_streams_by_its_own_token_while_it_is_encoded(stack, tmp_path):
    """Issue 30's first finding: the user guide's per-rendition route answers as soon as that
    rendition has its first segment (a growing `EVENT` playlist), not when it is finished."""
    from tests.media import looped_clip

    clip = looped_clip(tmp_path / "per-rendition.webm", 45)
    with stack.api() as api, clip.open("rb") as f:
        job_id = api.post("/api/v1/jobs/upload", files={"file": (clip.name, f, "video/webm")}).json()["job_id"]
        try:
            deadline = time.monotonic() + 90
            while (r := api.get(f"/api/streaming/token/{job_id}/360p")).status_code == 404:
                assert time.monotonic() < deadline, r.text
                time.sleep(0.2)
            assert r.status_code == 200, r.text
            status = api.get(f"/api/v1/jobs/{job_id}").json()["status"]
            playlist = m3u8.loads(httpx.get(r.json()["playlist_url"]).text, uri=r.json()["playlist_url"])
            segment = httpx.get(playlist.segments[0].absolute_uri)
            unknown = api.get(f"/api/streaming/token/{job_id}/1080p")
        finally:
            api.post(f"/api/v1/jobs/{job_id}/cancel")
    assert status == "processing" and playlist.playlist_type == "event" and not playlist.is_endlist
    assert segment.status_code == 200 and segment.content[:1] == b"G"
    assert unknown.status_code == 404  # a rendition the job does not have
