"""Input guards of the API, applied before any handler sees a value: JSON bodies bounded
in size and nesting *before* they are parsed (Python's parser recurses: 10,000 levels of
`[` raise RecursionError), and text fields that Postgres can store (no NUL, no lone
surrogate: `intake.submission.text_problem`)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import AfterValidator

from intake.submission import json_depth, text_problem
from services.api.errors import error_body

#: Largest JSON request body (bytes) and deepest nesting accepted on any route.
MAX_JSON_BODY = 1 << 20
MAX_JSON_DEPTH = 32
#: A refused JSON body is read up to this many bytes so the client sees the 413.
DRAIN_LIMIT = 8 << 20


def _safe(value: str) -> str:
    problem = text_problem(value)
    if problem:
        raise ValueError(f"text {problem}")
    return value


#: A `str` field that Postgres `text`/`jsonb` can hold (422 otherwise).
SafeText = Annotated[str, AfterValidator(_safe)]


class JsonBodyGuard:
    """Pure ASGI middleware: a JSON request body (`Content-Type: application/json`) over
    `MAX_JSON_BODY` bytes is refused with 413, one nested deeper than `MAX_JSON_DEPTH` with
    422 — both before the body is parsed. Other bodies pass untouched (uploads stream)."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_JSON_BODY:
                await _drain(receive, message, DRAIN_LIMIT - size)
                await _refuse(send, 413, "payload_too_large", f"JSON body is larger than {MAX_JSON_BODY} bytes")
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if json_depth(body, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
            await _refuse(send, 422, "invalid_request", f"JSON body nests deeper than {MAX_JSON_DEPTH} levels")
            return
        sent = False

        async def replay() -> Any:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _drain(receive: Any, message: Any, budget: int) -> None:
    """Read (and drop) what is left of a refused body, up to `budget` bytes, so a client still
    sending gets the 4xx instead of a reset connection; a larger body is cut off."""
    while message.get("more_body", False) and budget > 0:
        message = await receive()
        budget -= len(message.get("body", b""))


def _is_json(scope: Any) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return b"json" in value.lower()
    return False


async def _refuse(send: Any, status: int, code: str, message: str) -> None:
    body = json.dumps(error_body(code, message)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
