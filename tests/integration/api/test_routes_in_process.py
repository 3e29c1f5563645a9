"""Route-level checks on the in-process API tier (`app_client`: the app without uvicorn, on
the session's real Postgres, NATS and store, facts in memory): each asserts the exact
status and error code of the check it is about, so an earlier check cannot answer for it."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration


def _key(app_client: TestClient, **body) -> str:
    r = app_client.post("/api/v1/admin/api-keys", json={"name": f"inproc-{uuid.uuid4().hex[:6]}", **body})
    assert r.status_code == 201, r.text
    return str(r.json()["api_key"])


def test_webhooks_to_non_global_addresses_are_refused_by_the_ssrf_guard(app_client):
    # the admin may reference any owner's prefix, so the reference check lets these through to the guard
    for url in ("http://100.100.100.200/hook", "http://[2002:7f00:1::1]/hook", "http://[::ffff:127.0.0.1]/x",
                "http://169.254.169.254/latest/meta-data"):
        r = app_client.post("/api/v1/jobs/minio", json={"bucket": "videos", "object_key": "uploads/x/y.mp4",
                                                        "webhook_url": url})
        assert r.status_code == 400 and r.json()["error"]["code"] == "webhook_refused", (url, r.text)
    assert not app_client.facts._last, "a refused submission publishes nothing"  # type: ignore[attr-defined]


def test_a_read_only_key_is_refused_writes_by_its_scope(app_client):
    key = _key(app_client, scopes=["jobs:read"], rate_limit_per_minute=1000)
    headers = {"X-API-Key": key}
    assert app_client.get("/api/v1/jobs", headers=headers).status_code == 200
    r = app_client.post("/api/v1/jobs/upload", headers=headers, files={"file": ("x.flv", b"x")})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", r.text
    assert "'jobs:write' scope" in r.json()["error"]["message"]
    r = app_client.post("/api/v1/jobs/minio", headers=headers, json={"bucket": "videos", "object_key": "uploads/a.mp4"})
    assert r.status_code == 403, r.text


def test_an_unknown_key_is_401_and_no_key_is_401(app_client):
    assert app_client.get("/api/v1/jobs", headers={"X-API-Key": "tf_" + "0" * 43}).status_code == 401
    assert app_client.get("/api/v1/jobs", headers={"X-API-Key": ""}).status_code == 401
