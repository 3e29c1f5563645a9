"""The Python client's own logic, over httpx's in-process transport (no server): 429s are
retried after Retry-After, errors become typed exceptions with the API's code, uploads
stream with progress, and SSE lines parse into events."""

from __future__ import annotations

import io
import json

import httpx
import pytest
from transcode_flow_client import Client, NotFound, RateLimited, SseParser


def answers(*responses: httpx.Response) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handle(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        return queue.pop(0)
    return httpx.MockTransport(handle), seen


def limited(after: str = "0") -> httpx.Response:
    return httpx.Response(429, headers={"Retry-After": after}, json={
        "error": {"code": "rate_limited", "message": "rate limit of 3 requests per minute exceeded", "details": None}})


JOB = {"job_id": "j", "status": "completed", "progress_percent": 100.0, "priority": 5, "tasks": []}


def test_a_429_is_retried_after_retry_after_then_succeeds():
    transport, seen = answers(limited(), limited(), httpx.Response(200, json=JOB))
    with Client("http://api", "tf_k", transport=transport, max_retries=2) as tf:
        assert tf.get_job("j").status == "completed"
    assert len(seen) == 3 and all(r.headers["X-API-Key"] == "tf_k" for r in seen)


def test_a_job_still_being_received_is_retried_then_cancelled():
    not_ready = httpx.Response(409, headers={"Retry-After": "0"}, json={"error": {
        "code": "not_ready", "message": "job j was accepted and is being received; retry in a moment", "details": None}})
    done = {"message": "Job cancelled successfully", "job_id": "j", "status": "cancelled"}
    transport, seen = answers(not_ready, httpx.Response(200, json=done))
    with Client("http://api", "tf_k", transport=transport) as tf:
        assert tf.cancel_job("j") == done
    assert [r.url.path for r in seen] == ["/api/v1/jobs/j/cancel"] * 2


def test_retries_run_out_into_a_typed_error():
    transport, seen = answers(limited(), limited())
    with Client("http://api", "tf_k", transport=transport, max_retries=1) as tf, pytest.raises(RateLimited) as e:
        tf.get_job("j")
    assert e.value.status == 429 and e.value.code == "rate_limited" and e.value.retry_after == "0"
    assert len(seen) == 2


def test_errors_carry_the_api_code():
    transport, _ = answers(httpx.Response(404, json={"error": {"code": "not_found", "message": "job j does not exist",
                                                              "details": None}}))
    with Client("http://api", "tf_k", transport=transport) as tf, pytest.raises(NotFound) as e:
        tf.get_job("j")
    assert (e.value.code, e.value.message) == ("not_found", "job j does not exist")


def test_an_upload_is_rewound_for_its_retry_and_reports_progress():
    body = {"job_id": "j", "status": "pending", "filename": "a.mp4", "created_at": "2026-12-01T00:00:00+00:00",
            "priority": 5}
    transport, seen = answers(limited(), httpx.Response(202, json=body))
    progress: list[tuple[int, int]] = []
    with Client("http://api", "tf_k", transport=transport) as tf:
        got = tf.upload_video(io.BytesIO(b"v" * 200_000), "a.mp4", metadata={"k": 1},
                              on_progress=lambda d, t: progress.append((d, t)))
    assert got.job_id == "j" and len(seen) == 2
    assert all(b"v" * 200_000 in r.content for r in seen)  # the whole file, both times
    assert progress[-1] == (200_000, 200_000)


def test_sse_lines_parse_into_events():
    parser = SseParser()
    lines = ["event: progress", 'data: {"status": "processing", "progress": 5}', "", ": keep-alive", "",
             "event: complete", "data: " + json.dumps({"status": "completed", "progress": 100}), ""]
    events = [e for line in lines if (e := parser.feed(line)) is not None]
    assert [(e.event, e.status, e.progress) for e in events] == [("progress", "processing", 5),
                                                                 ("complete", "completed", 100)]
