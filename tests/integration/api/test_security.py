"""The security issue's findings at the API, each tried as a hostile client would, against
the real servers: tenant-scoped references, input that cannot stall the projector, media
and files opened safely, authentication before bodies. (The servers' own doors:
tests/integration/operations/test_doors.py; webhook address policy and model hashes: unit tests.)"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import nats
import pytest

from contracts import Deleted, ObjectRef, Received, encode, subject_for, utcnow
from runtime.storage import store
from tests.integration.conftest import discard, job_by_key, wait_for
from tests.media import media

pytestmark = pytest.mark.integration
CLIP = "valid/h264_1080x720_aac.flv"
NATS_ERRORS = (nats.errors.Error, TimeoutError, OSError)


def new_key(stack, name: str) -> dict:
    r = stack.api().post("/api/v1/admin/api-keys", json={"name": name, "rate_limit_per_hour": 100000})
    assert r.status_code == 201, r.text
    return r.json()


def upload(stack, key: str | None, name: str, data: bytes, **form) -> httpx.Response:
    with stack.api(key) as c:
        return c.post("/api/v1/jobs/upload", files={"file": (name, data)}, data=form, timeout=60)


# --- finding 2: the embedded S3 store takes no anonymous request -----------------------

async def test_references_are_scoped_to_their_tenant(stack, pool):
    a, b = new_key(stack, "tenant-a"), new_key(stack, "tenant-b")
    client, bucket = stack.client(), stack.settings.s3.bucket
    mine = f"uploads/{a['id']}/lecture.flv"
    store.upload_file(client, bucket, mine, media(CLIP))
    ra = stack.api(a["api_key"]).post("/api/v1/jobs/minio", json={"bucket": bucket, "object_key": mine})
    assert ra.status_code == 202, ra.text
    job_a = ra.json()["job_id"]
    row = await job_by_key(pool, ra.json()["source"]["key"])
    hostile = [mine, f"processed/{job_a}/360p/video_360p.mp4", f"processed/{job_a}/metadata.json",
               f"meta/{row['source_key']}.json", row["source_key"], f"uploads/{b['id']}/../{a['id']}/lecture.flv",
               f"uploads/{b['id']}//lecture.flv", "raw/", f"uploads/{b['id']}/missing.flv"]
    answers = []
    for key in hostile:
        r = stack.api(b["api_key"]).post("/api/v1/jobs/minio", json={"bucket": bucket, "object_key": key})
        answers.append((key, r.status_code, r.json()["error"]["code"]))
    assert all(status == 404 and code == "not_found" for _, status, code in answers), answers
    # the admin key may reference any tenant's upload folder, never the pipeline's own prefixes
    admin = stack.api()
    assert admin.post("/api/v1/jobs/minio", json={"bucket": bucket, "object_key": mine}).status_code == 202
    assert admin.post("/api/v1/jobs/minio", json={"bucket": bucket,
                                                  "object_key": f"processed/{job_a}/metadata.json"}).status_code == 404
    await discard(stack, job_a)


async def test_identical_uploads_from_two_keys_are_two_jobs(stack, pool):
    a, b = new_key(stack, "same-a"), new_key(stack, "same-b")
    data = media(CLIP).read_bytes()
    ja = upload(stack, a["api_key"], "same-name.flv", data)
    jb = upload(stack, b["api_key"], "same-name.flv", data)
    assert ja.status_code == jb.status_code == 202
    ida, idb = ja.json()["job_id"], jb.json()["job_id"]
    assert ida != idb
    assert ja.json()["source"]["key"] == f"raw/tenants/{a['id']}/same-name.flv"
    assert upload(stack, a["api_key"], "same-name.flv", data).json()["job_id"] == ida  # its own duplicate
    for owner, job, other in ((a, ida, idb), (b, idb, ida)):
        await wait_for(lambda o=owner, j=job: asyncio.to_thread(
            lambda: stack.api(o["api_key"]).get(f"/api/v1/jobs/{j}").status_code == 200), 30, "own job visible")
        assert stack.api(owner["api_key"]).get(f"/api/v1/jobs/{other}").status_code == 404
    for j in (ida, idb):
        await discard(stack, j)


# --- findings 1 and 6: input that cannot poison the read model; no 500 for bad input ------

def test_text_postgres_cannot_store_is_refused_with_422(stack):
    for meta in ('{"a":"x\\u0000y"}', '{"a\\u0000":1}', '{"a":"\\ud800"}', '{"a":NaN}', '{"a":' * 10000 + "1" + "}" * 10000):
        r = upload(stack, "admin", "nul.flv", b"x" * 100, metadata=meta)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_metadata", (meta[:30], r.text)
    body = '{"bucket":"videos","object_key":"uploads/x/a.mp4","metadata":{"a":"x\\u0000y"}}'
    deep = '{"bucket":"videos","object_key":"uploads/x/a.mp4","metadata":' + "[" * 10000 + "]" * 10000 + "}"
    for raw in (body, deep, body.replace("x\\u0000y", "\\udfff")):
        r = stack.api().post("/api/v1/jobs/minio", content=raw, headers={"Content-Type": "application/json"})
        assert 400 <= r.status_code < 500, (raw[:60], r.status_code, r.text[:200])


async def test_a_fact_postgres_refuses_is_set_aside_and_the_read_model_goes_on(stack, pool, js):
    poisoned = str(uuid.uuid4())
    bad = Received(job_id=poisoned, at=utcnow(), origin="api",
                   source=ObjectRef(bucket="videos", key="raw/x\x00y.mp4", etag="e", size=1))
    await js.publish(subject_for(bad), encode(bad))
    garbage = str(uuid.uuid4())
    await js.publish(f"jobs.{garbage}.received", b"\x00{not a fact")
    store.upload_file(stack.client(), stack.settings.s3.bucket, "raw/security-after-poison.flv", media(CLIP))
    after = await job_by_key(pool, "raw/security-after-poison.flv", timeout=60)  # found by the sweep
    listed = stack.api().get("/api/v1/admin/projection-failures").json()
    assert any(f["job_id"] == poisoned and "0x00" in f["error"] for f in listed["facts"]), listed
    assert any(f["job_id"] == garbage and f["error"].startswith("undecodable") for f in listed["facts"]), listed
    health = stack.api(None).get("/health")
    assert health.status_code == 200 and health.json()["projector"]["set_aside"] >= 1
    assert await pool.fetchval("SELECT count(*) FROM jobs WHERE id = $1", uuid.UUID(poisoned)) == 0
    await discard(stack, after["id"])


async def test_health_tells_when_the_projector_stalls(stack, js):
    projector = stack.sup.procs["projector"]
    os.kill(projector.pid, signal.SIGSTOP)
    stalled: list[str] = []
    try:
        for _ in range(3):
            stalled.append(str(uuid.uuid4()))
            fact = Received(job_id=stalled[-1], at=utcnow(), origin="api",
                            source=ObjectRef(bucket="videos", key="raw/stall.mp4", etag="e", size=1))
            await js.publish(subject_for(fact), encode(fact))

        def unhealthy() -> bool:
            r = stack.api(None).get("/health")
            doc = r.json()
            return r.status_code == 503 and doc["status"] == "unhealthy" and doc["services"]["projector"] == "down" \
                and "checkpoint has not moved" in doc["projector"]["error"]
        await wait_for(lambda: asyncio.to_thread(unhealthy), 30, "/health 503 for a stalled projector")
        workers = stack.api().get("/api/v1/health/workers").json()
        assert workers["status"] == "degraded" and workers["projector"]["lag"] >= 3
    finally:
        os.kill(projector.pid, signal.SIGCONT)
    await wait_for(lambda: asyncio.to_thread(lambda: stack.api(None).get("/health").status_code == 200), 30,
                   "/health 200 again")
    # the fabricated jobs (received, never ingested) end, so the session's stack quiesces
    for job_id in stalled:
        gone = Deleted(job_id=job_id, at=utcnow(), by="tests")
        await js.publish(subject_for(gone), encode(gone))


def raw_upload(stack, filename: bytes) -> httpx.Response:
    """An upload whose part header carries `filename` byte for byte (httpx would escape a NUL)."""
    body = (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" + filename + b"\"\r\n"
            b"Content-Type: video/mp4\r\n\r\n" + b"x" * 100 + b"\r\n--b--\r\n")
    return stack.api().post("/api/v1/jobs/upload", content=body,
                            headers={"Content-Type": "multipart/form-data; boundary=b"})


def test_the_nine_500s_are_4xx(stack):
    """The nine inputs the issue found answering 500, each now a precise 4xx."""
    api = stack.api()
    cases = {
        "metadata nested 10,000 deep": upload(stack, "admin", "deep.flv", b"x" * 100,
                                              metadata='{"m":' + "[" * 10000 + "]" * 10000 + "}"),
        "object_key raw/": api.post("/api/v1/jobs/minio", json={"bucket": "videos", "object_key": "raw/"}),
        "object_key with NUL": api.post("/api/v1/jobs/minio", json={"bucket": "videos",
                                                                    "object_key": "uploads/a\u0000b.mp4"}),
        "file name with NUL": raw_upload(stack, b"a\x00b.mp4"),
        "file name with backslashes": upload(stack, "admin", "dir\\evil.mp4", b"x" * 100),
        "list metadata NUL": api.get("/api/v1/jobs", params={"metadata": '{"a":"\\u0000"}'}),
        "list metadata NaN": api.get("/api/v1/jobs", params={"metadata": '{"a":NaN}'}),
        "offset 1e20": api.get("/api/v1/jobs", params={"offset": "99999999999999999999"}),
        "300-character path name": api.post("/api/v1/jobs/filesystem",
                                            json={"file_path": str(stack.fs_root / ("n" * 300 + ".mp4"))}),
    }
    answers = {what: (r.status_code, r.text[:160]) for what, r in cases.items()}
    wrong = {what: answer for what, answer in answers.items() if not 400 <= answer[0] < 500}
    assert wrong == {}


# --- finding 7: no input makes ingest open another URL or file ----------------------------

class Listener:
    """A loopback HTTP server counting the requests it receives."""

    def __init__(self) -> None:
        hits = self.hits = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                hits.append(self.path)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"#EXTM3U\n")

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


async def test_playlists_and_concat_lists_never_make_ingest_open_anything(stack, pool):
    probe = Listener()
    try:
        u = f"http://127.0.0.1:{probe.port}"
        hls = f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{u}/seg.ts\n#EXT-X-ENDLIST\n".encode()
        master = f"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\n{u}/v.m3u8\n".encode()
        concat = b"ffconcat version 1.0\nfile /etc/passwd\nfile " + f"{u}/x.mp4".encode() + b"\n"
        sdp = f"v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=video {probe.port} RTP/AVP 96\n"
        names = {"ssrf-hls.mp4": hls, "ssrf-master.m3u8": master, "ssrf-concat.mp4": concat,
                 "ssrf-sdp.mp4": sdp.encode()}
        for name, data in names.items():
            (stack.inbox / name).write_bytes(data)
        for n, d in names.items():  # refused at the API's door: no job, nothing stored
            r = upload(stack, "admin", f"api-{n}", d)
            assert (r.status_code, r.json()["error"]["code"]) == (415, "unsupported_container"), r.text
            assert "http" not in r.json()["error"]["message"], r.text
        for name in names:  # and by ingest, for what lands by the drop folder
            assert await asyncio.to_thread(stack.wait_filed, name, 60) == "failed"
            note = (stack.inbox / "failed" / f"{name}.error.txt").read_text()
            assert "http://" not in note and "X-Amz" not in note, note
            assert note.startswith("unsupported_container: "), note
        assert probe.hits == []
    finally:
        probe.server.shutdown()


# --- finding 8: the drop folder never follows a symbolic link -----------------------------

async def test_symlinked_sidecars_are_refused_not_followed(stack):
    secret = stack.settings.data_dir / "webhook.key"
    outside = stack.logs.parent / "outside.json"
    outside.write_text('{"stolen": true}')
    for name, side, target in (("link-thumb.flv", "link-thumb.flv.thumb.jpg", secret),
                               ("link-meta.flv", "link-meta.flv.json", outside)):
        (stack.inbox / side).symlink_to(target)
        stack.drop(media(CLIP), name)
        assert await asyncio.to_thread(stack.wait_filed, name, 30) == "failed"
        note = (stack.inbox / "failed" / f"{name}.error.txt").read_text()
        assert "symbolic link" in note, note
        assert (stack.inbox / "failed" / side).is_symlink()  # filed with it, untouched
    listed = [o.key for o in store.list_objects(stack.client(), stack.settings.s3.bucket, "meta/raw/link-")]
    assert listed == []
    assert secret.read_text().strip() not in json.dumps(listed)


# --- finding 9: the key is checked before the body is read; images by their header --------

def _raw_request(stack, key: str) -> tuple[int, float]:
    """Send only the headers of a 100 GB upload; the status line, and how long it took."""
    host, port = stack.settings.api.host, stack.settings.api.port
    head = (f"POST /api/v1/jobs/upload HTTP/1.1\r\nHost: {host}\r\nX-API-Key: {key}\r\n"
            "Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 100000000000\r\n\r\n")
    t0 = time.monotonic()
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(head.encode())
        status = int(s.recv(4096).split(b" ", 2)[1])
    return status, time.monotonic() - t0


def test_uploads_are_authenticated_and_sized_before_their_body(stack):
    status, took = _raw_request(stack, "tf_not_a_real_key_0000000000000000000000")
    assert status == 401 and took < 5
    status, took = _raw_request(stack, stack.admin_key)
    assert status == 413 and took < 5


def test_an_image_bomb_is_refused_by_its_header(stack):
    from io import BytesIO

    from PIL import Image

    buf = BytesIO()
    Image.new("L", (16000, 16000)).save(buf, "PNG", optimize=True)
    t0 = time.monotonic()
    with stack.api() as c:
        r = c.post("/api/v1/jobs/upload", files={"file": ("bomb.flv", media(CLIP).read_bytes()),
                                                  "thumbnail": ("t.png", buf.getvalue())}, timeout=60)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_thumbnail", r.text
    assert "canvas" in r.json()["error"]["message"] or "pixels" in r.json()["error"]["message"]
    assert time.monotonic() - t0 < 10



# --- finding 12: no internal URL to clients, no secret in any log ----------------------------
