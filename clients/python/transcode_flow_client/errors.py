"""Errors of the Transcode Flow API: one class per kind of answer, each with the HTTP
status, the API's machine `code` (e.g. `invalid_metadata`, `quota_exceeded`), its
`message` and `details`."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answer (4xx/5xx): `status`, `code`, `message`, `details`, `retry_after` (seconds, text)."""

    def __init__(self, status: int, code: str, message: str, details: Any = None, retry_after: str | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.details, self.retry_after = (status, code, message, details,
                                                                                 retry_after)


class BadRequest(ApiError):
    """400."""


class Unauthorized(ApiError):
    """401: no key, an unknown or revoked key."""


class Forbidden(ApiError):
    """403: the key lacks the scope."""


class NotFound(ApiError):
    """404: no such job (or not the caller's), or no such output yet."""


class Conflict(ApiError):
    """409: e.g. cancelling a job that has ended."""


class Gone(ApiError):
    """410: the job was deleted."""


class PayloadTooLarge(ApiError):
    """413: the file, the metadata or the key's storage quota."""


class ValidationError(ApiError):
    """422: a field is not valid; `details` says which."""


class RateLimited(ApiError):
    """429: past the key's rate limit (retried after `Retry-After` up to `max_retries`)."""


class ServerError(ApiError):
    """5xx: the API or a server behind it is unavailable."""


_BY_STATUS: dict[int, type[ApiError]] = {400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound,
                                         409: Conflict, 410: Gone, 413: PayloadTooLarge, 422: ValidationError,
                                         429: RateLimited}


def error_for(status: int, code: str, message: str, details: Any = None, retry_after: str | None = None) -> ApiError:
    """The `ApiError` subclass of an answer's status."""
    kind = _BY_STATUS.get(status, ServerError if status >= 500 else ApiError)
    return kind(status, code, message, details, retry_after)
