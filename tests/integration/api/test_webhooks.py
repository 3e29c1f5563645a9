"""Webhooks on terminal state: signed with the key's secret, retried with backoff, recorded."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.integration.conftest import wait_for
from tests.media import media

pytestmark = pytest.mark.integration


class Receiver:
    """A webhook endpoint on loopback that answers 500 first, then 200, and records all."""

    def __init__(self, port: int):
        self.calls: list[tuple[dict, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server API)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append((dict(self.headers), body))
                self.send_response(500 if len(receiver.calls) == 1 else 200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


async def test_terminal_state_is_posted_signed_retried_and_recorded(stack, pool):
    receiver = Receiver(stack.webhook_port)
    try:
        k = stack.api().post("/api/v1/admin/api-keys", json={"name": "hooks"}).json()
        url = f"http://127.0.0.1:{stack.webhook_port}/hook"
        with media("valid/h264_1080x720_aac.flv").open("rb") as f:
            r = stack.api(k["api_key"]).post("/api/v1/jobs/upload", files={"file": ("hooked.flv", f)},
                                         data={"webhook_url": url})
        assert r.status_code == 202, r.text
        job_id = r.json()["job_id"]

        async def delivered():
            return await pool.fetchval("SELECT count(*) FROM webhook_deliveries WHERE job_id = $1 AND succeeded",
                                       uuid.UUID(job_id))
        await wait_for(delivered, 180, "webhook delivered")
        rows = await pool.fetch("SELECT * FROM webhook_deliveries WHERE job_id = $1 ORDER BY attempt",
                                uuid.UUID(job_id))
        assert [(r["attempt"], r["status_code"], r["succeeded"]) for r in rows] == [(1, 500, False), (2, 200, True)]
        assert rows[0]["next_attempt_at"] is not None and rows[0]["error"] == "HTTP 500"
        assert len(receiver.calls) == 2
        headers, body = receiver.calls[-1]
        expected = "sha256=" + hmac.new(k["webhook_secret"].encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-TFlow-Signature"] == expected
        doc = json.loads(body)
        assert doc["event"] == "job.completed" and doc["job"]["job_id"] == job_id
        assert doc["job"]["status"] == "completed" and headers["X-TFlow-Event"] == "job.completed"
    finally:
        receiver.close()
