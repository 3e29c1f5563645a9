"""The minimal API: auth, one job, the list; one error shape."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.integration.conftest import ACCEPTED, discard, job_by_key
from tests.media import media

pytestmark = pytest.mark.integration


def test_health_needs_no_key(stack):
    r = stack.api(key=None).get("/health")
    doc = r.json()  # PRD §9.3
    assert r.status_code == 200 and doc["status"] in ("healthy", "degraded"), doc
    assert {k: doc["services"][k] for k in ("database", "nats", "storage", "projector")} == dict.fromkeys(
        ("database", "nats", "storage", "projector"), "up")
    alive, total = doc["services"]["workers"].removesuffix(" active").split("/")
    assert int(total) >= 6 and 0 <= int(alive) <= int(total) and doc["timestamp"]
    detailed = stack.api(key=None).get("/health/detailed").json()
    assert set(detailed["components"]) == {"db", "nats", "storage", "workers", "projector", "disk"}
    assert doc["services"]["disk"] == "ok" and doc["reasons"] == []
    assert all(c["status"] != "error" and c["latency_ms"] >= 0 for c in detailed["components"].values())
    assert "127.0.0.1" not in json.dumps(detailed)  # no server address leaves through the keyless route


@pytest.mark.parametrize("key,message", [(None, "missing X-API-Key header"), ("tf_wrong", "invalid API key")])
def test_jobs_require_a_valid_key(stack, key, message):
    for path in ("/api/v1/jobs", f"/api/v1/jobs/{uuid.uuid4()}"):
        r = stack.api(key=key).get(path)
        assert r.status_code == 401
        assert r.json() == {"error": {"code": "unauthorized", "message": message, "details": None}}


def test_unknown_and_malformed_job_ids(stack):
    api = stack.api()
    r = api.get(f"/api/v1/jobs/{uuid.UUID(int=0)}")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = api.get("/api/v1/jobs/not-a-uuid")
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    assert r.json()["error"]["details"][0]["loc"] == ["path", "job_id"]


async def test_job_document_has_probe_data_and_tasks(stack, pool):
    stack.drop(media("valid/phone_1280x720_rot180_vfr.mp4"), "api-phone.mp4")
    job = await job_by_key(pool, "raw/api-phone.mp4")
    await discard(stack, job["id"])
    doc = stack.api().get(f"/api/v1/jobs/{job['id']}").json()
    assert doc["job_id"] == str(job["id"]) and doc["status"] in (*ACCEPTED, "cancelled")
    v = doc["video_info"]
    assert (v["codec"], v["width"], v["height"], v["rotation"]) == ("h264", 1280, 720, 180)
    assert 10 < v["fps"] < 11 and v["audio_codec"] == "aac"
    assert doc["source"]["key"] == "raw/api-phone.mp4" and doc["source"]["origin"] == "inbox"
    assert {t["task"] for t in doc["tasks"]} >= {"video_360p", "video_720p", "audio_mp3", "transcription"}
    assert {t["name"] for t in doc["tasks"]} >= {"validate_video", "transcode_360p", "transcode_720p",
                                                 "extract_audio_mp3", "transcribe_video"}
    assert v["format"] == "mp4" and v["resolution"] == "1280x720" and v["filename"] == "api-phone.mp4"


async def test_list_filters_pages_and_counts(stack, pool):
    stack.drop(media("valid/mpeg4asp_960x400_mp3.avi"), "api-list.avi")
    stack.drop(media("bad/portrait_3840x2160_0.3s_too_short.mp4"), "api-list-short.mp4")
    await discard(stack, (await job_by_key(pool, "raw/api-list.avi"))["id"])
    await job_by_key(pool, "raw/api-list-short.mp4")
    api = stack.api()
    all_ = api.get("/api/v1/jobs", params={"limit": 200}).json()
    assert all_["total"] == len(all_["jobs"]) >= 2
    failed = api.get("/api/v1/jobs", params={"status": "failed", "limit": 200}).json()
    assert failed["total"] >= 1 and failed["total"] == sum(1 for j in all_["jobs"] if j["status"] == "failed")
    assert all(j["status"] == "failed" for j in failed["jobs"])
    page = api.get("/api/v1/jobs", params={"limit": 1, "offset": 1}).json()
    assert page["jobs"][0]["job_id"] == all_["jobs"][1]["job_id"] and page["total"] == all_["total"]
    created = [j["created_at"] for j in all_["jobs"]]
    assert created == sorted(created, reverse=True)
    for bad in ({"limit": 0}, {"limit": 201}, {"offset": -1}, {"status": "exploded"}):
        r = api.get("/api/v1/jobs", params=bad)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
