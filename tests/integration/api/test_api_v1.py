"""API keys, scopes, shared rate limits, isolation, submissions, stats, health, metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from ops.stack import free_port, service_env, wait_for_http
from tests.integration.conftest import discard, job_by_key
from tests.media import media

pytestmark = pytest.mark.integration


def new_key(stack, name="k", rate=1000, scopes=None) -> dict:
    body = {"name": name, "rate_limit_per_hour": rate}
    if scopes is not None:
        body["scopes"] = scopes
    r = stack.api().post("/api/v1/admin/api-keys", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_key_lifecycle_hashed_shown_once_revoke_rotate(stack, pool):
    k = new_key(stack, "lifecycle")
    assert k["api_key"].startswith("tf_") and len(k["api_key"]) > 40 and k["key_prefix"] == k["api_key"][:8]
    listed = stack.api().get("/api/v1/admin/api-keys").json()["api_keys"]
    mine = next(x for x in listed if x["id"] == k["id"])
    assert "key" not in mine and mine["is_active"]
    user = stack.api(k["api_key"])
    assert user.get("/api/v1/jobs").status_code == 200
    rot = stack.api().post(f"/api/v1/admin/api-keys/{k['id']}/rotate").json()
    assert rot["api_key"] != k["api_key"]
    assert stack.api(k["api_key"]).get("/api/v1/jobs").status_code == 401
    assert stack.api(rot["api_key"]).get("/api/v1/jobs").status_code == 200
    assert stack.api().delete(f"/api/v1/admin/api-keys/{k['id']}").status_code == 204
    r = stack.api(rot["api_key"]).get("/api/v1/jobs")
    assert r.status_code == 401 and r.json()["error"]["message"] == "this API key has been revoked"
    assert stack.api().delete(f"/api/v1/admin/api-keys/{uuid.uuid4()}").status_code == 404
    last_used = next(x for x in stack.api().get("/api/v1/admin/api-keys").json()["api_keys"] if x["id"] == k["id"])
    assert last_used["last_used_at"] is not None and last_used["revoked_at"] is not None


async def test_keys_are_stored_only_as_sha256(stack, pool):
    import hashlib
    k = new_key(stack, "hash-check")
    row = await pool.fetchrow("SELECT * FROM api_keys WHERE id = $1", uuid.UUID(k["id"]))
    assert row["key_hash"] == hashlib.sha256(k["api_key"].encode()).hexdigest()
    assert k["api_key"] not in json.dumps({c: str(v) for c, v in dict(row).items()})


def test_scopes_are_enforced(stack):
    reader = new_key(stack, "reader", scopes=["jobs:read"])
    api = stack.api(reader["api_key"])
    assert api.get("/api/v1/jobs").status_code == 200
    r = api.post("/api/v1/jobs/minio", json={"bucket": "videos", "object_key": "raw/x.mp4"})
    assert r.status_code == 403 and "jobs:write" in r.json()["error"]["message"]
    assert api.get("/api/v1/admin/api-keys").status_code == 403
    assert stack.api("tf_" + "x" * 43).get("/api/v1/stats").status_code == 401


async def test_upload_becomes_a_job_seen_only_by_its_key(stack, pool):
    a, b = new_key(stack, "owner-a"), new_key(stack, "owner-b")
    src = media("valid/h264_1080x720_aac.flv")
    with src.open("rb") as f:
        r = stack.api(a["api_key"]).post("/api/v1/jobs/upload", files={"file": ("api-upload.flv", f, "video/x-flv")},
                                     data={"priority": "7", "metadata": json.dumps({"course": "cs101"})})
    assert r.status_code == 202, r.text
    body = r.json()
    key = f"raw/tenants/{a['id']}/api-upload.flv"  # originals of an API key live under its own folder
    assert body["source"]["key"] == key and body["status_url"].endswith(body["job_id"])
    job = await job_by_key(pool, key)
    await discard(stack, job["id"])
    assert str(job["id"]) == body["job_id"] and str(job["api_key_id"]) == a["id"]
    assert (job["priority"], job["user_metadata"], job["origin"]) == (7, {"course": "cs101"}, "api")
    assert stack.api(a["api_key"]).get(f"/api/v1/jobs/{body['job_id']}").status_code == 200
    assert stack.api(b["api_key"]).get(f"/api/v1/jobs/{body['job_id']}").status_code == 404
    listed_b = stack.api(b["api_key"]).get("/api/v1/jobs").json()
    assert listed_b["total"] == 0
    listed_a = stack.api(a["api_key"]).get("/api/v1/jobs", params={"metadata": json.dumps({"course": "cs101"})}).json()
    assert [j["job_id"] for j in listed_a["jobs"]] == [body["job_id"]]
    assert stack.api().get(f"/api/v1/jobs/{body['job_id']}").status_code == 200  # admin sees all
    usage = await pool.fetchrow("SELECT * FROM usage_stats WHERE api_key_id = $1", uuid.UUID(a["id"]))
    assert usage["jobs_submitted"] == 1 and usage["bytes_uploaded"] == src.stat().st_size and usage["requests"] >= 3


def test_bad_submissions_get_precise_4xx(stack, tmp_path):
    api = stack.api()
    video = media("valid/h264_1080x720_aac.flv").read_bytes()
    big = json.dumps({"x": "y" * 20000})
    r = api.post("/api/v1/jobs/upload", files={"file": ("v.flv", video)}, data={"metadata": big})
    assert r.status_code == 413 and r.json()["error"]["code"] == "invalid_metadata"
    r = api.post("/api/v1/jobs/upload", files={"file": ("v.flv", video)}, data={"metadata": "[1,2]"})
    assert r.status_code == 422 and "JSON object" in r.json()["error"]["message"]
    r = api.post("/api/v1/jobs/upload", files={"file": ("v.flv", video), "thumbnail": ("t.jpg", b"not an image")})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_thumbnail"
    r = api.post("/api/v1/jobs/upload", files={"file": ("v.flv", video)}, data={"priority": "11"})
    assert r.status_code == 422
    r = api.post("/api/v1/jobs/upload", files={"file": ("v.flv", video)},
                 data={"webhook_url": "http://127.0.0.1:9/hook"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "webhook_refused"
    r = api.post("/api/v1/jobs/minio", json={"bucket": "videos", "object_key": "nope/missing.mp4"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


async def test_minio_object_submission_copies_into_raw(stack, pool):
    from runtime.storage import store
    store.upload_file(stack.client(), stack.settings.s3.bucket, "uploads/ops/lecture.avi",
                      media("valid/mpeg4asp_960x400_mp3.avi"))
    r = stack.api().post("/api/v1/jobs/minio", json={"bucket": "videos", "object_key": "uploads/ops/lecture.avi",
                                                     "metadata": {"room": "b12"}})
    assert r.status_code == 202, r.text
    job = await job_by_key(pool, "raw/lecture.avi")
    await discard(stack, job["id"])
    assert str(job["id"]) == r.json()["job_id"] and job["user_metadata"] == {"room": "b12"}
    assert store.stat(stack.client(), stack.settings.s3.bucket, "uploads/ops/lecture.avi") is not None  # original kept


async def test_filesystem_submission_is_confined_to_the_roots(stack, pool, tmp_path):
    root = stack.fs_root
    (root / "sub").mkdir(exist_ok=True)
    good = root / "sub" / "fs-clip.flv"
    good.write_bytes(media("valid/h264_1080x720_aac.flv").read_bytes())
    outside = tmp_path / "secret.mp4"
    outside.write_bytes(b"secret")
    (root / "escape.mp4").symlink_to(outside)
    api = stack.api()
    cases = [
        (f"{root}/../{tmp_path.name}/secret.mp4", 400, "invalid_path"),
        ("relative/path.mp4", 400, "invalid_path"),
        (str(outside), 403, "forbidden"),
        (str(root / "escape.mp4"), 403, "forbidden"),
        (str(root / "sub"), 400, "not_a_file"),
        (str(root / "missing.mp4"), 404, "not_found"),
        ("/dev/null", 403, "forbidden"),
    ]
    for path, status, code in cases:
        r = api.post("/api/v1/jobs/filesystem", json={"file_path": path})
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), path
    r = api.post("/api/v1/jobs/filesystem", json={"file_path": str(good)})
    assert r.status_code == 202, r.text
    job = await job_by_key(pool, "raw/fs-clip.flv")
    await discard(stack, job["id"])
    assert str(job["id"]) == r.json()["job_id"]


class SecondApi:
    """Another API process on the same database (its own port and environment)."""

    def __init__(self, stack, **env: str):
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, "-m", "services.api"],
                                     env=service_env(stack.settings, {"TFLOW_API_PORT": str(self.port), **env}, role="api"),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}"
        wait_for_http(f"{self.url}/health", 30)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def test_upload_above_the_size_limit_is_413(stack):
    api2 = SecondApi(stack, TFLOW_MAX_SIZE_BYTES="50000")
    try:
        video = media("valid/h264_1080x720_aac.flv").read_bytes()  # 100,898 bytes
        r = httpx.post(f"{api2.url}/api/v1/jobs/upload", headers={"X-API-Key": stack.admin_key},
                       files={"file": ("big.flv", video)})
        assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
        from runtime.storage import store
        assert store.stat(stack.client(), stack.settings.s3.bucket, "raw/big.flv") is None
    finally:
        api2.stop()


def test_keys_cli_creates_lists_and_revokes(stack):
    env = service_env(stack.settings)
    run = lambda *a: subprocess.run([sys.executable, "-m", "ops.cli", "keys", *a], env=env,  # noqa: E731
                                    capture_output=True, text=True, timeout=60)
    out = run("create", "from-cli", "--rate", "42", "--scope", "jobs:read")
    assert out.returncode == 0, out.stderr
    fields = dict(line.split(None, 1) for line in out.stdout.splitlines() if line and not line.startswith("("))
    assert fields["scopes"] == "jobs:read" and fields["rate"] == "42/hour" and fields["key"].startswith("tf_")
    assert stack.api(fields["key"]).get("/api/v1/jobs").status_code == 200
    assert fields["id"] in run("list").stdout
    assert run("revoke", fields["id"]).returncode == 0
    assert stack.api(fields["key"]).get("/api/v1/jobs").status_code == 401
    assert run("revoke", str(uuid.uuid4())).returncode == 1


def test_rate_limit_is_shared_by_two_api_processes(stack):
    api2 = SecondApi(stack)
    port = api2.port
    try:
        k = new_key(stack, "limited", rate=5)
        apis = [stack.api(k["api_key"]), httpx.Client(base_url=f"http://127.0.0.1:{port}",
                                                  headers={"X-API-Key": k["api_key"]})]
        codes = []
        for i in range(7):
            r = apis[i % 2].get("/api/v1/jobs")
            codes.append(r.status_code)
            if r.status_code == 200:
                assert r.headers["X-RateLimit-Limit"] == "5"
                assert r.headers["X-RateLimit-Remaining"] == str(4 - i)
        assert codes == [200] * 5 + [429] * 2
        assert 0 < int(r.headers["Retry-After"]) <= 3600 and r.headers["X-RateLimit-Remaining"] == "0"
        assert r.json()["error"]["code"] == "rate_limited"
    finally:
        api2.stop()


async def test_stats_health_and_metrics(stack, pool):
    stack.drop(media("bad/vp6_112x80_too_small.flv"), "stats-bad.flv")
    await job_by_key(pool, "raw/stats-bad.flv")
    api = stack.api()
    s = api.get("/api/v1/stats").json()
    assert s["by_status"]["failed"] >= 1
    assert s["total_jobs"] == sum(n for k, n in s["by_status"].items() if k != "deleted") >= 1
    assert s["failed"] == s["by_status"]["failed"] and s["total_input_tb"] > 0  # PRD §4 names
    for component in ("db", "nats", "storage"):
        assert api.get(f"/api/v1/health/{component}").json()["status"] == "ok"
    workers = api.get("/api/v1/health/workers").json()["consumers"]
    assert set(workers) >= {"ingest", "transcoder", "finalizer", "thumbnailer", "transcriber"}
    assert all(w["alive"] for w in workers.values())
    assert api.get("/api/v1/health/everything").status_code == 404
    text = httpx.get(f"{stack.api_url}/metrics").text
    assert "api_requests_total" in text and 'endpoint="/api/v1/stats"' in text
    assert stack.api(key=None).get("/api/v1/health/db").status_code == 401


def test_openapi_documents_every_route(stack):
    spec = httpx.get(f"{stack.api_url}/openapi.json").json()
    assert {"/api/v1/jobs/upload", "/api/v1/jobs/minio", "/api/v1/jobs/filesystem", "/api/v1/admin/api-keys",
            "/api/v1/stats", "/api/v1/health/{component}"} <= set(spec["paths"])
    assert httpx.get(f"{stack.api_url}/docs").status_code == 200
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            ok = [r for s, r in op["responses"].items() if s.startswith("2")]
            assert ok, (method, path)
            has_example = any("example" in m for r in ok for m in r.get("content", {}).values())
            assert has_example or "204" in op["responses"], f"{method.upper()} {path} has no example"
            assert "4XX" in op["responses"], (method, path)


@pytest.mark.slow
def test_large_upload_streams_with_bounded_api_memory(stack, tmp_path):
    """400 MB through POST /jobs/upload: the API processes' resident memory grows by far
    less than the file (it is spooled to disk in 1 MiB chunks, never held whole)."""
    import threading

    import psutil

    api_proc = psutil.Process(stack.sup.procs["api"].pid)
    procs = [api_proc, *api_proc.children(recursive=True)]
    base = sum(p.memory_info().rss for p in procs)
    peak, done = [base], threading.Event()

    def sample():
        while not done.is_set():
            try:
                peak.append(sum(p.memory_info().rss for p in procs))
            except psutil.NoSuchProcess:
                pass
            time.sleep(0.02)

    big = tmp_path / "big-upload.mp4"
    clip = media("valid/friday_640x480_speech_h264_aac.mp4").read_bytes()
    with big.open("wb") as f:  # a valid MP4 (it is judged at the door) padded by a `free` box (ISO 14496-12)
        f.write(clip)
        pad = (400 << 20) - len(clip)
        f.write(pad.to_bytes(4, "big") + b"free")
        block = os.urandom(1 << 20)
        for _ in range((pad - 8) >> 20):
            f.write(block)
        f.write(os.urandom((pad - 8) & ((1 << 20) - 1)))
    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with big.open("rb") as f:
            r = httpx.post(f"{stack.api_url}/api/v1/jobs/upload", headers={"X-API-Key": stack.admin_key},
                           files={"file": ("big-upload.mp4", f)}, timeout=300)
    finally:
        done.set()
        sampler.join()
    assert r.status_code == 202, r.text
    assert r.json()["source"]["size_bytes"] == 400 << 20
    growth = max(peak) - base
    print(f"API RSS growth during a 400 MiB upload: {growth / 2**20:.1f} MiB")
    assert growth < 64 << 20
