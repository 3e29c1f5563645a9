"""Typed results of the Transcode Flow API (the fields the API's OpenAPI document
declares; every result keeps the whole answer in `raw`). Units: seconds, bytes, percent."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: Job statuses after which nothing changes any more.
TERMINAL = frozenset({"completed", "failed", "cancelled", "deleted"})


def _time(v: str | None) -> datetime | None:
    return datetime.fromisoformat(v.replace("Z", "+00:00")) if v else None


@dataclass(frozen=True)
class Task:
    """One task of a job: its PRD name (`transcode_360p`, ...), status, percent, ETA."""

    name: str
    status: str
    progress_percent: float
    eta_seconds: float | None
    duration_seconds: float | None
    output_size_mb: float | None

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> Task:
        """From one element of a job's `tasks`."""
        return cls(d["name"], d["status"], d.get("progress_percent") or 0.0, d.get("eta_seconds"),
                   d.get("duration_seconds"), d.get("output_size_mb"))


@dataclass(frozen=True)
class Job:
    """A job: status (pending, validating, processing, completed, failed; cancelled,
    deleted), progress, times, its tasks and outputs (the PRD §4 document, in `raw`)."""

    job_id: str
    status: str
    progress_percent: float
    current_task: str | None
    priority: int
    created_at: datetime | None
    completed_at: datetime | None
    processing_time_seconds: float | None
    user_metadata: dict[str, Any]
    video_info: dict[str, Any] | None
    outputs: dict[str, Any] | None
    error: dict[str, Any] | None
    tasks: list[Task] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def done(self) -> bool:
        """The job has ended (nothing changes any more)."""
        return self.status in TERMINAL

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> Job:
        """From the job document."""
        return cls(d["job_id"], d["status"], d.get("progress_percent") or 0.0, d.get("current_task"),
                   d.get("priority", 5), _time(d.get("created_at")), _time(d.get("completed_at")),
                   d.get("processing_time_seconds"), d.get("user_metadata") or {}, d.get("video_info"),
                   d.get("outputs"), d.get("error"), [Task.from_api(t) for t in d.get("tasks") or []], d)


@dataclass(frozen=True)
class JobPage:
    """One page of jobs and the total that match."""

    total: int
    page: int
    per_page: int
    jobs: list[Job]

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> JobPage:
        """From the list answer."""
        return cls(d["total"], d["page"], d["per_page"], [Job.from_api(j) for j in d["jobs"]])


@dataclass(frozen=True)
class Submitted:
    """A submission's answer (202): the job id and where to poll."""

    job_id: str
    status: str
    filename: str
    created_at: datetime | None
    priority: int
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> Submitted:
        """From the 202 body."""
        return cls(d["job_id"], d["status"], d["filename"], _time(d.get("created_at")), d["priority"], d)


@dataclass(frozen=True)
class DownloadUrl:
    """A presigned URL for one output and when it expires."""

    download_url: str
    expires_at: datetime | None

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> DownloadUrl:
        """From the download answer."""
        return cls(d["download_url"], _time(d["expires_at"]))


@dataclass(frozen=True)
class StreamingToken:
    """An HLS playlist URL for a player, its token and when it expires."""

    playlist_url: str
    token: str
    expires_at: datetime | None

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> StreamingToken:
        """From the streaming-token answer."""
        return cls(d["playlist_url"], d["token"], _time(d["expires_at"]))


@dataclass(frozen=True)
class Progress:
    """One Server-Sent Event of a job: `progress` (percent) while it runs, `complete` at the end."""

    event: str
    status: str
    progress: float
    current_task: str | None
    data: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_sse(cls, event: str, d: dict[str, Any]) -> Progress:
        """From an SSE event name and its JSON data."""
        return cls(event, d["status"], d.get("progress") or 0.0, d.get("current_task"), d)
