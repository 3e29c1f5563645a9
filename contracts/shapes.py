"""The values facts carry: object references, probe data, job options, planned tasks,
written outputs, and the submission sidecar (`meta/<raw key>.json`). Plain msgspec
structs, no tags; the facts themselves are in `contracts.events`. Units: seconds, bytes,
pixels, bits/s, samples/s."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = ["ObjectRef", "VideoInfo", "AudioInfo", "Probe", "JobOptions", "PlannedTask", "OutputInfo", "Submission"]


class ObjectRef(msgspec.Struct, frozen=True, kw_only=True):
    """An object in the store: bucket, key (decoded, e.g. `raw/My clip.mp4`), ETag, size in bytes."""

    bucket: str
    key: str
    etag: str
    size: int
    version_id: str | None = None


class VideoInfo(msgspec.Struct, frozen=True, kw_only=True):
    """The first video stream. Sizes in pixels, `fps` in frames/s, `bitrate` in bits/s.

    `hdr`: the transfer is PQ (SMPTE ST 2084) or HLG (ARIB STD-B67).
    `rotation` is the clockwise rotation (0/90/180/270 degrees) a player applies for
    display (the legacy `rotate` tag; the display matrix negated). `display_width` /
    `display_height` are the upright, square-pixel size after that rotation.
    """

    codec: str
    profile: str | None = None
    width: int
    height: int
    display_width: int
    display_height: int
    fps: float
    bitrate: int | None = None
    pixel_format: str | None = None
    bit_depth: int | None = None
    sample_aspect_ratio: str | None = None
    rotation: int = 0
    interlaced: bool | None = None
    color_transfer: str | None = None
    hdr: bool = False


class AudioInfo(msgspec.Struct, frozen=True, kw_only=True):
    """The first audio stream: `bitrate` in bits/s, `sample_rate` in Hz."""

    codec: str
    bitrate: int | None = None
    sample_rate: int | None = None
    channels: int | None = None


class Probe(msgspec.Struct, frozen=True, kw_only=True):
    """What ingest read of a source: container (FFmpeg demuxer name), duration in seconds,
    size in bytes, overall bitrate in bits/s, first video and audio stream."""

    container: str
    duration_seconds: float
    size_bytes: int
    bitrate: int | None = None
    video: VideoInfo
    audio: AudioInfo | None = None
    subtitle_streams: int = 0


class JobOptions(msgspec.Struct, frozen=True, kw_only=True):
    """What the submitter asked for (PRD: priority 1..10, webhook, transcription overrides)."""

    priority: int = 5
    webhook_url: str | None = None
    transcription_language: str | None = None
    whisper_model: str | None = None
    thumbnail_key: str | None = None
    api_key_id: str | None = None


class PlannedTask(msgspec.Struct, frozen=True, kw_only=True):
    """One task of a job's plan. `name` is unique in the job and is the subject detail
    (`jobs.<id>.task_completed.<name>`); `kind` says which service does it. An
    `optional` task's failure is recorded but does not fail the job."""

    name: str
    kind: Literal["transcode", "package", "audio", "thumbnails", "transcription", "metadata"]
    rendition: str | None = None
    optional: bool = False


class OutputInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One object a task wrote: key, size in bytes, and what is known of it
    (pixels, bits/s, seconds, audio samples/s, compression ratio = source size / output size)."""

    key: str
    size_bytes: int
    kind: str
    width: int | None = None
    height: int | None = None
    bitrate: int | None = None
    duration_seconds: float | None = None
    encode_seconds: float | None = None
    compression_ratio: float | None = None
    sample_rate: int | None = None


class Submission(msgspec.Struct, frozen=True, kw_only=True):
    """The sidecar object `meta/<raw key>.json` a submitter writes *before* the object:
    user metadata (stored and returned as given) and job options."""

    user_metadata: dict[str, Any] = {}
    options: JobOptions = msgspec.field(default_factory=JobOptions)
