"""The read model's rows (tables `jobs` and `tasks`, `readmodel/migrations/`) and the one
definition of the probe fields on their way from the `Probe` contract to the job row's
columns and the API's `video_info`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, NamedTuple, cast

import msgspec

from contracts import Probe, TaskResult, result_from_v1

#: Job statuses after which nothing changes the job's status any more.
TERMINAL = frozenset({"completed", "failed", "cancelled", "deleted"})
#: Every job status (the `jobs.status` CHECK constraint). The PRD's five, and ours:
#: `cancelled` (by request) and `deleted` (gone from listings; its document answers 410).
#: A rejected source is `failed` with the rejection's code (`error.code`).
JOB_STATUSES = ("pending", "validating", "processing", "completed", "failed", "cancelled", "deleted")


class JobRow(msgspec.Struct, kw_only=True):
    """One row of `jobs` (column names = field names)."""

    id: str
    status: str
    origin: str
    source_bucket: str
    source_key: str
    source_etag: str
    source_version_id: str | None = None
    original_filename: str
    file_size_bytes: int
    container: str | None = None
    duration_seconds: float | None = None
    bitrate: int | None = None
    video_codec: str | None = None
    width: int | None = None
    height: int | None = None
    display_width: int | None = None
    display_height: int | None = None
    fps: float | None = None
    video_bitrate: int | None = None
    pixel_format: str | None = None
    rotation: int | None = None
    audio_codec: str | None = None
    audio_bitrate: int | None = None
    audio_sample_rate: int | None = None
    audio_channels: int | None = None
    probe: dict[str, Any] | None = None
    plan: list[dict[str, Any]] = []
    user_metadata: dict[str, Any] = {}
    priority: int = 5
    webhook_url: str | None = None
    api_key_id: str | None = None
    transcription_language: str | None = None
    whisper_model: str | None = None
    word_count: int | None = None
    progress_percent: float = 0.0
    current_task: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    outputs: dict[str, Any] = {}
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    last_seq: int = 0
    epoch: int = 1
    original_removed_at: datetime | None = None


class TaskRow(msgspec.Struct, kw_only=True):
    """One row of `tasks` (column names = field names)."""

    job_id: str
    name: str
    kind: str
    rendition: str | None = None
    status: str = "pending"
    progress_percent: float = 0.0
    speed: float | None = None
    eta_seconds: float | None = None
    attempts: int = 0
    worker: str | None = None
    outputs: list[dict[str, Any]] = []
    details: dict[str, Any] = {}
    error_code: str | None = None
    error_message: str | None = None
    processing_seconds: float | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    updated_at: datetime
    epoch: int = 1


JOB_COLUMNS: tuple[str, ...] = JobRow.__struct_fields__
TASK_COLUMNS: tuple[str, ...] = TaskRow.__struct_fields__


class JobState(msgspec.Struct):
    """A job and its tasks by name, as the projector's fold sees them."""

    job: JobRow
    tasks: dict[str, TaskRow]


class ProbeColumn(NamedTuple):
    """One probe field: its `jobs` column, its name in the API's `video_info`, and how it
    is read from a `Probe`."""

    column: str
    field: str
    read: Callable[[Probe], Any]


#: The probe fields kept as columns of `jobs` (filterable, cheap to list), in API order.
PROBE_COLUMNS: tuple[ProbeColumn, ...] = (
    ProbeColumn("container", "container", lambda p: p.container),
    ProbeColumn("duration_seconds", "duration_seconds", lambda p: p.duration_seconds),
    ProbeColumn("bitrate", "bitrate", lambda p: p.bitrate),
    ProbeColumn("video_codec", "codec", lambda p: p.video.codec),
    ProbeColumn("width", "width", lambda p: p.video.width),
    ProbeColumn("height", "height", lambda p: p.video.height),
    ProbeColumn("display_width", "display_width", lambda p: p.video.display_width),
    ProbeColumn("display_height", "display_height", lambda p: p.video.display_height),
    ProbeColumn("fps", "fps", lambda p: p.video.fps),
    ProbeColumn("video_bitrate", "video_bitrate", lambda p: p.video.bitrate),
    ProbeColumn("pixel_format", "pixel_format", lambda p: p.video.pixel_format),
    ProbeColumn("rotation", "rotation", lambda p: p.video.rotation),
    ProbeColumn("audio_codec", "audio_codec", lambda p: p.audio.codec if p.audio else None),
    ProbeColumn("audio_bitrate", "audio_bitrate", lambda p: p.audio.bitrate if p.audio else None),
    ProbeColumn("audio_sample_rate", "audio_sample_rate", lambda p: p.audio.sample_rate if p.audio else None),
    ProbeColumn("audio_channels", "audio_channels", lambda p: p.audio.channels if p.audio else None),
)


def probe_columns(probe: Probe) -> dict[str, Any]:
    """The `jobs` column values of a probe (`PROBE_COLUMNS`)."""
    return {c.column: c.read(probe) for c in PROBE_COLUMNS}


def video_info(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """The API's `video_info` from a job row's probe columns; None before ingest."""
    if row["video_codec"] is None:
        return None
    return {c.field: row[c.column] for c in PROBE_COLUMNS}


def task_result(name: str, details: Mapping[str, Any]) -> TaskResult | None:
    """The typed result stored in a task row's `details` (tagged by `type`); rows written
    from schema-1 facts before a rebuild hold the untyped form, read with `result_from_v1`."""
    if not details:
        return None
    if "type" in details:
        return cast(TaskResult, msgspec.convert(details, TaskResult))
    return result_from_v1(name, dict(details))
