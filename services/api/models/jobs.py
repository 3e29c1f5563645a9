"""Answers of the job routes: submissions, the job document (PRD §4), lists, cancel,
delete, downloads, streaming tokens, progress events."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from services.api.models.base import Model, Problem

__all__ = [
    "SourceObject",
    "Accepted",
    "Location",
    "StoredFile",
    "VideoOutput",
    "StreamingOutput",
    "RenditionOutputs",
    "AudioOutput",
    "TranscriptText",
    "TranscriptionOutputs",
    "CustomThumbnail",
    "AutoThumbnail",
    "ThumbnailOutputs",
    "Outputs",
    "VideoInfo",
    "Source",
    "TranscriptionSummary",
    "TaskView",
    "Quality",
    "JobSummary",
    "JobDocument",
    "JobList",
    "JobCancelled",
    "JobDeleted",
    "Download",
    "StreamingToken",
    "ProgressEvent",
]

# --- submission -------------------------------------------------------------------

class SourceObject(Model):
    """Where the original lives in the store."""

    bucket: str
    key: str
    size_bytes: int


class Accepted(Model):
    """202 of every submission route (PRD §4 upload / filesystem / MinIO; user guide
    upload): the job id (deterministic: the same object gives the same job), its status,
    where to poll."""

    job_id: str
    status: Literal["pending", "validating", "processing", "completed", "failed", "cancelled", "deleted"]
    message: str
    created_at: datetime
    priority: int = Field(ge=1, le=10)
    filename: str
    status_url: str
    source: SourceObject


# --- the job document --------------------------------------------------------------

class Location(Model):
    """An object of the job: a URL (public, presigned or stream-token; it expires with
    `TFLOW_URL_LIFETIME_SECONDS` unless public), `minio_path` (`<bucket>/<key>`) and `key`."""

    url: str
    minio_path: str
    key: str


class StoredFile(Location):
    """An object with its size."""

    size_bytes: int
    size_mb: float


class VideoOutput(StoredFile):
    """A rendition's MP4 (PRD `outputs.<r>.video`)."""

    resolution: str | None
    width: int | None
    height: int | None
    bitrate: int | None
    duration_seconds: float | None
    processing_time_seconds: float | None
    codecs: str
    frame_rate: float
    profile: str
    level: str
    crf: int
    compression_ratio: float | None
    psnr: float | None = Field(description="dB against the source")
    ssim: float | None
    vmaf: float | None = Field(None, description="VMAF 0..100 against the source (model vmaf_v0.6.1)")
    preset: str | None = Field(None, description="x264 preset")
    encoding_profile: str | None = Field(None, description="the encoding profile's name (TFLOW_ENCODING_PROFILE)")


class StreamingOutput(Location):
    """A rendition's HLS media playlist (PRD `outputs.<r>.streaming`): `segment_duration`
    is the target duration in seconds (RFC 8216 EXT-X-TARGETDURATION)."""

    hls_url: str
    segment_count: int
    segment_duration: int
    total_segments_size_mb: float | None
    total_segments_size_bytes: int | None
    bandwidth: int
    average_bandwidth: int
    processing_time_seconds: float | None


class RenditionOutputs(Model):
    """One rung of the ladder: its MP4 and its HLS playlist, each once finished."""

    video: VideoOutput | None
    streaming: StreamingOutput | None


class AudioOutput(StoredFile):
    """The MP3 (PRD `outputs.audio`)."""

    bitrate: int | None
    sample_rate: int | None
    duration_seconds: float | None
    processing_time_seconds: float | None


class TranscriptText(StoredFile):
    """transcript.txt with its word count."""

    word_count: int


class TranscriptionOutputs(Model):
    """PRD `outputs.transcription`: the four files, language, Whisper model."""

    text: TranscriptText | None = None
    srt: StoredFile | None = None
    vtt: StoredFile | None = None
    json_file: StoredFile | None = Field(None, alias="json")
    language: str
    language_probability: float
    word_count: int
    whisper_model: str = Field(description="The model that transcribed")
    model_rule: str | None = Field(description="The size the PRD rule asked for (tiny < 5 min, base < 30 min, ...)")
    whisper_model_requested: str | None = Field(None, description="The job's `whisper_model` (None: the rule's)")
    segments: int
    real_time_factor: float | None
    processing_time_seconds: float | None


class CustomThumbnail(StoredFile):
    """The submitter's thumbnail (PRD: `source` `user_uploaded`, `is_primary`)."""

    width: int | None
    height: int | None
    source: Literal["user_uploaded"]
    is_primary: bool


class AutoThumbnail(Location):
    """A positional thumbnail: percent of the duration, `timestamp` `HH:MM:SS`."""

    position_percent: int
    timestamp: str
    timestamp_seconds: float
    size_bytes: int | None
    width: int
    height: int
    is_primary: bool


class ThumbnailOutputs(Model):
    """PRD `outputs.thumbnails`; `primary` is the one shown for the job."""

    custom: CustomThumbnail | None
    auto_generated: list[AutoThumbnail]
    primary: Location | None


class Outputs(Model):
    """PRD §4 `outputs`: keyed by rendition (the PRD ladder: `360p`, `720p`), `audio`,
    `transcription`, `thumbnails`, `metadata_json`; ours: `master_playlist` (HLS
    multivariant playlist). Only finished outputs appear."""

    r360p: RenditionOutputs | None = Field(None, alias="360p")
    r720p: RenditionOutputs | None = Field(None, alias="720p")
    audio: AudioOutput | None
    transcription: TranscriptionOutputs | None
    thumbnails: ThumbnailOutputs | None
    metadata_json: Location | None
    master_playlist: Location | None


class VideoInfo(Model):
    """PRD §4 `video_info` (upright size, short `format`) and the probe's other figures."""

    filename: str
    duration: float
    resolution: str | None
    size_mb: float
    size_bytes: int
    format: str | None
    container: str | None = Field(description="FFmpeg demuxer name")
    duration_seconds: float
    bitrate: int | None
    codec: str
    width: int
    height: int
    coded_width: int | None
    coded_height: int | None
    display_width: int | None
    display_height: int | None
    fps: float | None
    video_bitrate: int | None
    pixel_format: str | None
    rotation: int | None
    audio_codec: str | None
    audio_bitrate: int | None
    audio_sample_rate: int | None
    audio_channels: int | None


class Source(Model):
    """Where the job's original came from."""

    origin: str
    bucket: str
    key: str
    etag: str
    original_filename: str
    file_size_bytes: int


class TranscriptionSummary(Model):
    """The transcript's language, model and words (None until transcribed)."""

    language: str | None
    model: str | None
    word_count: int | None


class TaskView(Model):
    """PRD §4 `tasks[]`: `name` (PRD FR-4.1: `validate_video`, `transcode_360p`,
    `prepare_hls_360p`, `extract_audio_mp3`, `transcribe_video`, `generate_thumbnail`,
    ...), `status` (pending, running, completed, failed; cancelled), seconds, percent,
    ETA seconds, MB; ours: `task` (our name, what replays take), speed, attempts, epoch."""

    name: str
    task: str | None
    kind: str
    rendition: str | None
    status: str
    progress_percent: float
    eta_seconds: float | None
    duration_seconds: float | None
    output_size_mb: float | None
    output_size_bytes: int | None
    speed: float | None
    attempts: int | None
    epoch: int | None
    outputs: list[dict[str, Any]]
    details: dict[str, Any]
    error: Problem | None
    started_at: datetime | None
    completed_at: datetime | None


class Quality(Model):
    """VMAF (0..100, model vmaf_v0.6.1), PSNR (dB) and SSIM (0..1) of a rendition against
    the source; PSNR/SSIM only with `TFLOW_QUALITY_PSNR_SSIM`."""

    vmaf: float | None = None
    psnr: float | None
    ssim: float | None


class JobSummary(Model):
    """A job in a list: state, progress, times, source, probe data (no tasks/outputs)."""

    job_id: str
    status: str = Field(description="pending, validating, processing, completed, failed (PRD); cancelled, deleted")
    progress_percent: float
    current_task: str | None
    priority: int
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    processing_time_seconds: float | None = Field(description="Landing to completion, seconds")
    user_metadata: dict[str, Any]
    video_info: VideoInfo | None
    source: Source
    transcription: TranscriptionSummary
    outputs: Outputs | None
    compression: dict[str, float | None] | None = Field(
        description='PRD: `"360p_ratio"`, `"720p_ratio"` (source bytes / MP4 bytes), `total_saved_percent`')
    error: Problem | None


class JobDocument(JobSummary):
    """PRD §4 `GET /api/v1/jobs/{id}`: the summary plus tasks, ETA, retries, quality."""

    tasks: list[TaskView]
    eta_seconds: float | None
    retry_count: int
    quality_metrics: dict[str, Quality]


class JobList(Model):
    """PRD §4 list answer (`total`, `limit`, `offset`, `jobs`) with the user guide's
    `page` / `per_page` / `pages`."""

    total: int
    limit: int
    offset: int
    page: int
    per_page: int
    pages: int
    jobs: list[JobSummary]


class JobCancelled(Model):
    """PRD §4 DELETE / the user guide's cancel: what happened."""

    message: str
    job_id: str
    status: Literal["cancelled"]


class JobDeleted(Model):
    """The user guide's DELETE: the job is gone from listings; which files were removed."""

    message: str
    job_id: str
    status: Literal["deleted"]
    was_cancelled: bool
    deleted_objects: int
    original_deleted: bool


class Download(Model):
    """The user guide's download answer (`download_url`, `expires_at`) and ours."""

    download_url: str
    expires_at: datetime
    file_type: str
    key: str
    expires_in_seconds: int


class StreamingToken(Model):
    """The user guide's streaming answer: a playlist URL that plays in any HLS player
    (token in its path), the token, and when it stops working."""

    playlist_url: str
    token: str
    expires_at: datetime
    job_id: str
    resolution: str


class ProgressEvent(Model):
    """`data` of an SSE `progress` / `complete` event (`progress` = percent, the user guide)."""

    job_id: str
    status: str
    progress: float
    progress_percent: float
    current_task: str | None
    error: Problem | None
    tasks: list[dict[str, Any]]
