"""One JSON error shape everywhere: `{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import asyncpg
import nats.errors
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from minio.error import S3Error
from starlette.exceptions import HTTPException as StarletteHTTPException

from runtime.storage.space import free_bytes, human, is_full

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error answered as `status` with the shared shape."""

    def __init__(self, status: int, code: str, message: str, details: Any = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.details, self.headers = status, code, message, details, headers


def error_body(code: str, message: str, details: Any = None) -> dict:
    """The shared error document."""
    return {"error": {"code": code, "message": message, "details": details}}


_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
               409: "conflict", 413: "payload_too_large", 422: "invalid_request", 429: "rate_limited"}


def install(app: FastAPI, spool: Path) -> None:
    """Route every error of `app` through the shared shape. A full disk (ENOSPC on
    `spool`, the upload spool, or the store answering storage full) is a JSON 507
    `insufficient_storage` with the spool's free bytes and `Retry-After`."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()]
        return JSONResponse(error_body("invalid_request", "the request is not valid", details), status_code=422)

    @app.exception_handler(asyncpg.PostgresConnectionError)
    @app.exception_handler(asyncpg.InterfaceError)
    @app.exception_handler(asyncpg.CannotConnectNowError)
    @app.exception_handler(ConnectionError)
    async def _db_down(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(error_body("database_unavailable", f"the database is unreachable, retry: {exc}"),
                            status_code=503, headers={"Retry-After": "1"})

    @app.exception_handler(nats.errors.Error)
    async def _nats_down(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(error_body("events_unavailable", f"the event stream is unreachable, retry: {exc!r}"),
                            status_code=503, headers={"Retry-After": "1"})

    @app.exception_handler(OSError)
    @app.exception_handler(S3Error)
    async def _full(_: Request, exc: Exception) -> JSONResponse:
        if not is_full(exc):
            log.error("unexpected %s: %s", type(exc).__name__, exc, exc_info=exc)
            return JSONResponse(error_body("internal_error", "the server met an unexpected error"), status_code=500)
        where = "the object store" if isinstance(exc, S3Error) else "the upload spool"
        free = free_bytes(spool)
        log.warning("an upload met a full disk (%s, %s free on the spool): %s", where, human(free), exc)
        return JSONResponse(error_body("insufficient_storage", f"The server has no space left on {where} "
                                       f"({human(free)} free on the upload spool); retry later.",
                                       {"free_bytes": free}), status_code=507, headers={"Retry-After": "60"})

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))
