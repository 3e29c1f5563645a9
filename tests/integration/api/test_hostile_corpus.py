"""A hand-written corpus of hostile values in every parameter of every route of the live
API's OpenAPI document (path, query, JSON body field, multipart field): NUL, lone
surrogates, 10,000-deep JSON, huge numbers, non-finite numbers, 1 MB strings, path
tricks. Nothing may answer 5xx (security issue: "No 500 for bad input on any route")."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import quote

import httpx
import pytest

pytestmark = pytest.mark.integration

DEEP = "[" * 10000 + "]" * 10000
#: Values for text positions (path segments and query values are sent percent-encoded).
TEXT = ["\x00", "a\x00b", "\ud800", "\udfff\ud800", DEEP, '{"a":' * 5000 + "1" + "}" * 5000, "9" * 40,
        "-1", "NaN", "Infinity", "1e999", "../../../etc/passwd", "..", "%2e%2e%2f", "\\..\\x", "x" * 1_000_000,
        "raw/", "processed/x/metadata.json", "\n\r", "' OR 1=1 --", "${jndi:ldap://127.0.0.1/x}"]
#: Values for JSON body fields (any JSON type, including what the schema does not allow).
JSON_VALUES: list[Any] = [*TEXT, 10**40, -(10**40), 1e308, None, True, [], {}, json.loads(DEEP[:40] + DEEP[-40:]),
                          {"a": "\x00"}, {"\x00": 1}, {"a": "\ud800"}]
DEFAULTS = {"job_id": str(uuid.uuid4()), "key_id": str(uuid.uuid4()), "component": "db", "output": "master",
            "token": "1.00000000000000000000000000000000", "path": "master.m3u8"}


def _encode(value: str) -> str:
    """Percent-encode text for a URL (cut to 20,000 characters: httpx refuses URLs over 64 KiB);
    a lone surrogate becomes its (invalid) UTF-8 bytes."""
    return quote(value[:20000].encode("utf-8", "surrogatepass"), safe="")


def _json_body(value: Any) -> bytes:
    """JSON text with lone surrogates kept as `\\udxxx` escapes (valid JSON, invalid Unicode)."""
    return json.dumps(value, ensure_ascii=True, allow_nan=True).encode()


def _operations(spec: dict) -> list[tuple[str, str, dict]]:
    return [(method, path, op) for path, ops in spec["paths"].items() for method, op in ops.items()
            if method in ("get", "post", "delete", "put", "patch")]


def _schema(spec: dict, ref: dict) -> dict:
    while "$ref" in ref:
        name = ref["$ref"].rsplit("/", 1)[-1]
        ref = spec["components"]["schemas"][name]
    return ref


def _path(template: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    return template


def test_no_hostile_value_in_any_parameter_answers_5xx(stack):
    spec = httpx.get(f"{stack.api_url}/openapi.json").json()
    failures: list[str] = []
    sent = 0
    with httpx.Client(base_url=stack.api_url, headers={"X-API-Key": stack.admin_key}, timeout=30) as c:
        def send(method: str, url: str, **kw: Any) -> None:
            nonlocal sent
            sent += 1
            try:
                # streamed: an accepted Server-Sent Events request never ends; the status is the answer
                with c.stream(method, url, **kw) as r:
                    if r.status_code >= 500:
                        r.read()
            except httpx.RemoteProtocolError:
                return  # the server refused the request line itself (uvicorn/h11 limits): not a 5xx
            except httpx.TransportError as e:
                failures.append(f"{method.upper()} {url[:120]} {str(kw)[:160]} -> {type(e).__name__}: {e}")
                return
            if r.status_code >= 500:
                failures.append(f"{method.upper()} {url[:120]} {str(kw)[:120]} -> {r.status_code} {r.text[:200]}")

        for method, template, op in _operations(spec):
            params = op.get("parameters", [])
            base = {p["name"]: DEFAULTS.get(p["name"], "x") for p in params if p["in"] == "path"}
            for p in params:
                for value in TEXT:
                    if p["in"] == "path":
                        send(method, _path(template, {**base, p["name"]: _encode(value)}))
                    elif p["in"] == "query":
                        send(method, _path(template, base) + f"?{p['name']}={_encode(value)}")
            body = op.get("requestBody", {}).get("content", {})
            if "application/json" in body:
                schema = _schema(spec, body["application/json"]["schema"])
                valid = {"bucket": "videos", "object_key": "uploads/x/a.mp4", "file_path": "/nonexistent/a.mp4",
                         "name": "corpus"}
                for field in schema.get("properties", {}):
                    for value in JSON_VALUES:
                        send(method, _path(template, base), content=_json_body({**valid, field: value}),
                             headers={"Content-Type": "application/json"})
                for raw in (DEEP, "{" * 5000, '{"bucket": NaN}', "\x00", '"\\ud800"', "x" * 1_100_000):
                    send(method, _path(template, base), content=raw.encode("utf-8", "surrogatepass"),
                         headers={"Content-Type": "application/json"})
            if "multipart/form-data" in body:
                fields = _schema(spec, body["multipart/form-data"]["schema"]).get("properties", {})
                for field, prop in fields.items():
                    for value in TEXT:
                        data = value.encode("utf-8", "surrogatepass")
                        if prop.get("format") == "binary":
                            files = {"file": ("corpus.flv", b"x" * 64), field: ("f.bin", data)}
                            send(method, _path(template, base), files=files)
                        else:
                            send(method, _path(template, base), files={"file": ("corpus.flv", b"x" * 64)},
                                 data={field: data.decode("utf-8", "replace")})
    assert failures == [], "\n".join(failures[:20])
    assert sent > 800
