"""Sync (`Client`) and async (`AsyncClient`) clients of the Transcode Flow REST API
(canonical `/api/v1` routes, `X-API-Key`). Both share the request builders and answer
parsers below; only the transport differs. Errors are `ApiError` subclasses carrying
the API's error `code`; a 429 (or a 409 `not_ready`: a job accepted a moment ago is
still being received) is retried after its `Retry-After` seconds (`max_retries`)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from transcode_flow_client.errors import ApiError, error_for
from transcode_flow_client.models import DownloadUrl, Job, JobPage, Progress, StreamingToken, Submitted

#: `callback(bytes_sent, total_bytes)` while an upload streams.
ProgressCallback = Callable[[int, int], None]
#: Seconds to wait for a 429 without `Retry-After`.
DEFAULT_RETRY_SECONDS = 1.0


@dataclass(frozen=True)
class Call:
    """One request: method, path and httpx keyword arguments."""

    method: str
    path: str
    kwargs: dict[str, Any]


class _Counting:
    """A file object whose reads report progress (httpx streams multipart files by reading them)."""

    def __init__(self, f: BinaryIO, total: int, callback: ProgressCallback | None):
        self.f, self.total, self.sent, self.callback = f, total, 0, callback

    def read(self, n: int = -1) -> bytes:
        chunk = self.f.read(n)
        self.sent += len(chunk)
        if self.callback is not None and chunk:
            self.callback(self.sent, self.total)
        return chunk

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Rewind (for a retry): the count starts again from the new position."""
        pos = self.f.seek(offset, whence)
        self.sent = pos
        return pos

    def __getattr__(self, name: str) -> Any:
        return getattr(self.f, name)


def _size(f: BinaryIO) -> int:
    here = f.tell()
    f.seek(0, os.SEEK_END)
    end = f.tell()
    f.seek(here)
    return end - here


def upload_call(file: BinaryIO, filename: str, priority: int, thumbnail: BinaryIO | None,
                metadata: dict[str, Any] | None, webhook_url: str | None,
                on_progress: ProgressCallback | None) -> Call:
    """POST /api/v1/jobs/upload: the file streamed from its object (never read whole)."""
    files: dict[str, Any] = {"file": (filename, _Counting(file, _size(file), on_progress), "application/octet-stream")}
    if thumbnail is not None:
        files["thumbnail"] = ("thumbnail", thumbnail, "application/octet-stream")
    data: dict[str, str] = {"priority": str(priority)}
    if metadata is not None:
        data["metadata"] = json.dumps(metadata)
    if webhook_url:
        data["webhook_url"] = webhook_url
    return Call("POST", "/api/v1/jobs/upload", {"files": files, "data": data})


def list_call(status: str | None, page: int, per_page: int) -> Call:
    """GET /api/v1/jobs with the user guide's paging."""
    params: dict[str, Any] = {"page": page, "per_page": per_page}
    if status:
        params["status"] = status
    return Call("GET", "/api/v1/jobs", {"params": params})


def check(response: httpx.Response) -> Any:
    """The answer's JSON, or the `ApiError` its status and error body say."""
    if response.status_code >= 400:
        try:
            err = response.json().get("error") or {}
        except ValueError:
            err = {}
        raise error_for(response.status_code, err.get("code", "error"), err.get("message", response.text[:200]),
                        err.get("details"), response.headers.get("retry-after"))
    return response.json() if response.content else None


def retryable(e: ApiError) -> bool:
    """A 429, or a 409 `not_ready` (a job accepted a moment ago is still being received)."""
    return e.status == 429 or e.code == "not_ready"


def retry_after(e: ApiError) -> float:
    """Seconds a 429 asks to wait (`Retry-After`, else `DEFAULT_RETRY_SECONDS`)."""
    try:
        return max(0.0, float(e.retry_after)) if e.retry_after is not None else DEFAULT_RETRY_SECONDS
    except ValueError:
        return DEFAULT_RETRY_SECONDS


class SseParser:
    """Server-Sent Events, one line at a time (`event:` / `data:` lines, a blank line ends
    an event, comments skipped): `feed(line)` returns the event it completes, or None."""

    def __init__(self) -> None:
        self.event, self.data = "message", []  # type: tuple[str, list[str]]

    def feed(self, line: str) -> Progress | None:
        """Take one line (without its newline)."""
        if not line:
            done = Progress.from_sse(self.event, json.loads("\n".join(self.data))) if self.data else None
            self.event, self.data = "message", []
            return done
        if line.startswith("event:"):
            self.event = line[6:].strip()
        elif line.startswith("data:"):
            self.data.append(line[5:].lstrip())
        return None


def _rewind(call: Call) -> None:
    for part in call.kwargs.get("files", {}).values():
        part[1].seek(0)


class Client:
    """Sync client. `Client(base_url, api_key)`; use as a context manager or `close()`."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 60.0, max_retries: int = 3,
                 transport: httpx.BaseTransport | None = None):
        self.http = httpx.Client(base_url=base_url.rstrip("/"), headers={"X-API-Key": api_key}, timeout=timeout,
                                 transport=transport)
        self.max_retries = max_retries

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def _do(self, call: Call) -> Any:
        for attempt in range(self.max_retries + 1):
            try:
                return check(self.http.request(call.method, call.path, **call.kwargs))
            except ApiError as e:
                if not retryable(e) or attempt == self.max_retries:
                    raise
                time.sleep(retry_after(e))
                _rewind(call)
        raise AssertionError("unreachable")

    def upload_video(self, file: str | Path | BinaryIO, filename: str | None = None, priority: int = 5,
                     thumbnail: str | Path | BinaryIO | None = None, metadata: dict[str, Any] | None = None,
                     webhook_url: str | None = None, on_progress: ProgressCallback | None = None) -> Submitted:
        """Upload a video (a path or a binary file object), streamed from disk; returns the
        202 answer. Raises `PayloadTooLarge` (size or quota), `ValidationError` (422), ..."""
        with _opened(file) as f, _opened(thumbnail) as t:
            name = filename or Path(getattr(f, "name", "video")).name
            return Submitted.from_api(self._do(upload_call(f, name, priority, t, metadata, webhook_url,
                                                           on_progress)))

    def get_job(self, job_id: str) -> Job:
        """The job document (PRD §4)."""
        return Job.from_api(self._do(Call("GET", f"/api/v1/jobs/{job_id}", {})))

    def list_jobs(self, status: str | None = None, page: int = 1, per_page: int = 50) -> JobPage:
        """One page of the caller's jobs, newest first."""
        return JobPage.from_api(self._do(list_call(status, page, per_page)))

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        """Cancel a running job. Raises `Conflict` when it has ended."""
        result: dict[str, Any] = self._do(Call("POST", f"/api/v1/jobs/{job_id}/cancel", {}))
        return result

    def delete_job(self, job_id: str, delete_files: bool = False, delete_original: bool = False) -> dict[str, Any]:
        """Delete a job (cancelled first if running); its outputs too with `delete_files`."""
        result: dict[str, Any] = self._do(Call("POST", f"/api/v1/jobs/{job_id}/delete", {"params": {
            "delete_files": str(delete_files).lower(), "delete_original": str(delete_original).lower()}}))
        return result

    def get_download_url(self, job_id: str, file_type: str) -> DownloadUrl:
        """A presigned URL of one output (`360p`, `720p`, `audio`, `transcript_vtt`, `thumbnail`, `metadata`, ...)."""
        return DownloadUrl.from_api(self._do(Call("GET", f"/api/v1/jobs/{job_id}/download/{file_type}", {})))

    def get_streaming_token(self, job_id: str, resolution: str = "master") -> StreamingToken:
        """A playlist URL for an HLS player (`360p`, `720p` or `master`) and its token."""
        return StreamingToken.from_api(self._do(Call("GET", f"/api/v1/streaming/token/{job_id}/{resolution}", {})))

    def stream_progress(self, job_id: str) -> Iterator[Progress]:
        """The job's live events (SSE): `progress` events, then one `complete`."""
        with self.http.stream("GET", f"/api/v1/jobs/{job_id}/events", timeout=None) as r:
            if r.status_code >= 400:
                r.read()
                check(r)
            parser = SseParser()
            for line in r.iter_lines():
                if (event := parser.feed(line)) is not None:
                    yield event

    def wait_for_completion(self, job_id: str, timeout: float = 3600.0, poll_interval: float = 2.0) -> Job:
        """Poll until the job ends; its final document. Raises `TimeoutError`."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get_job(job_id)
            if job.done:
                return job
            if time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id} is still {job.status} after {timeout} s")
            time.sleep(poll_interval)


class AsyncClient:
    """Async client, the same methods as `Client` as coroutines (`stream_progress` an async iterator)."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 60.0, max_retries: int = 3,
                 transport: httpx.AsyncBaseTransport | None = None):
        self.http = httpx.AsyncClient(base_url=base_url.rstrip("/"), headers={"X-API-Key": api_key},
                                      timeout=timeout, transport=transport)
        self.max_retries = max_retries

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.http.aclose()

    async def _do(self, call: Call) -> Any:
        for attempt in range(self.max_retries + 1):
            try:
                return check(await self.http.request(call.method, call.path, **call.kwargs))
            except ApiError as e:
                if not retryable(e) or attempt == self.max_retries:
                    raise
                await asyncio.sleep(retry_after(e))
                _rewind(call)
        raise AssertionError("unreachable")

    async def upload_video(self, file: str | Path | BinaryIO, filename: str | None = None, priority: int = 5,
                           thumbnail: str | Path | BinaryIO | None = None, metadata: dict[str, Any] | None = None,
                           webhook_url: str | None = None, on_progress: ProgressCallback | None = None) -> Submitted:
        """As `Client.upload_video`. (httpx reads the file in a thread-free loop; the reads are small.)"""
        with _opened(file) as f, _opened(thumbnail) as t:
            name = filename or Path(getattr(f, "name", "video")).name
            call = upload_call(f, name, priority, t, metadata, webhook_url, on_progress)
            return Submitted.from_api(await self._do(call))

    async def get_job(self, job_id: str) -> Job:
        """As `Client.get_job`."""
        return Job.from_api(await self._do(Call("GET", f"/api/v1/jobs/{job_id}", {})))

    async def list_jobs(self, status: str | None = None, page: int = 1, per_page: int = 50) -> JobPage:
        """As `Client.list_jobs`."""
        return JobPage.from_api(await self._do(list_call(status, page, per_page)))

    async def cancel_job(self, job_id: str) -> dict[str, Any]:
        """As `Client.cancel_job`."""
        result: dict[str, Any] = await self._do(Call("POST", f"/api/v1/jobs/{job_id}/cancel", {}))
        return result

    async def delete_job(self, job_id: str, delete_files: bool = False,
                         delete_original: bool = False) -> dict[str, Any]:
        """As `Client.delete_job`."""
        result: dict[str, Any] = await self._do(Call("POST", f"/api/v1/jobs/{job_id}/delete", {"params": {
            "delete_files": str(delete_files).lower(), "delete_original": str(delete_original).lower()}}))
        return result

    async def get_download_url(self, job_id: str, file_type: str) -> DownloadUrl:
        """As `Client.get_download_url`."""
        return DownloadUrl.from_api(await self._do(Call("GET", f"/api/v1/jobs/{job_id}/download/{file_type}", {})))

    async def get_streaming_token(self, job_id: str, resolution: str = "master") -> StreamingToken:
        """As `Client.get_streaming_token`."""
        return StreamingToken.from_api(await self._do(Call("GET", f"/api/v1/streaming/token/{job_id}/{resolution}",
                                                           {})))

    async def stream_progress(self, job_id: str) -> AsyncIterator[Progress]:
        """As `Client.stream_progress`."""
        async with self.http.stream("GET", f"/api/v1/jobs/{job_id}/events", timeout=None) as r:
            if r.status_code >= 400:
                await r.aread()
                check(r)
            parser = SseParser()
            async for line in r.aiter_lines():
                if (event := parser.feed(line)) is not None:
                    yield event

    async def wait_for_completion(self, job_id: str, timeout: float = 3600.0, poll_interval: float = 2.0) -> Job:
        """As `Client.wait_for_completion`."""
        deadline = time.monotonic() + timeout
        while True:
            job = await self.get_job(job_id)
            if job.done:
                return job
            if time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id} is still {job.status} after {timeout} s")
            await asyncio.sleep(poll_interval)


class _opened:
    """A path opened for reading (closed after), a file object as it is, or None."""

    def __init__(self, f: str | Path | BinaryIO | None):
        self.f, self.mine = f, isinstance(f, str | Path)

    def __enter__(self) -> Any:
        if self.mine:
            self.f = Path(self.f).open("rb")  # type: ignore[arg-type]
        return self.f

    def __exit__(self, *_: object) -> None:
        if self.mine and self.f is not None:
            self.f.close()  # type: ignore[union-attr]
