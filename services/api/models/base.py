"""Typed answers of every API route (pydantic): the OpenAPI document is built from these,
so it describes what is sent, and schemathesis checks the bodies against it. The field
names are the PRD's (§4) and the user guide's; what this project adds is in extra
fields. Units: seconds, bytes (`*_bytes`), MB = 2^20 bytes (`*_mb`), bits/s (`bitrate`,
`bandwidth`), percent (`*_percent`). Every model refuses unknown fields, so a document
that drifts from its model fails the tests instead of the clients."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    """Base: no field beyond the declared ones; aliases (`"360p"`) on the wire."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ErrorDetail(Model):
    """`code` (machine reason, e.g. `not_found`, `invalid_metadata`), `message`, `details`."""

    code: str
    message: str
    details: Any = None


class ErrorBody(Model):
    """The one error shape of every 4xx/5xx answer."""

    error: ErrorDetail


class Problem(Model):
    """An error of a job or task: machine `code` and human `message`."""

    code: str | None
    message: str | None
