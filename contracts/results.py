"""Typed task results: what a `TaskCompleted` fact says of its work beyond the objects
it wrote. One tagged union (tag field `type`), so readers dispatch on the type, never
on dict keys or task-name prefixes. Units: bits/s, seconds, pixels, dB.

Schema version 1 of `TaskCompleted` carried these as an untyped `details` object;
`result_from_v1` reads such facts (additive evolution: old facts stay readable).
"""

from __future__ import annotations

from typing import Any, cast

import msgspec

from contracts import layout

__all__ = [
    "VideoResult",
    "HlsResult",
    "Thumbnail",
    "ThumbnailsResult",
    "CustomThumbnailResult",
    "Mp3Result",
    "TranscriptResult",
    "MetadataResult",
    "TaskResult",
    "result_from_v1",
]


class VideoResult(msgspec.Struct, frozen=True, kw_only=True, tag="video", tag_field="type"):
    """A rendition MP4 (PRD ladder): x264 profile/level/CRF/preset and the encoding
    profile's name (`media.ladder.ENCODING_PROFILES`), RFC 6381 `codecs`, frames/s, and the
    quality against the equally normalised source when measured: VMAF (0..100, model
    vmaf_v0.6.1), and optionally PSNR in dB and SSIM 0..1."""

    rendition: str
    codecs: str
    frame_rate: float
    profile: str
    level: str
    crf: int
    psnr_db: float | None = None
    ssim: float | None = None
    vmaf: float | None = None
    preset: str | None = None
    encoding_profile: str | None = None


class HlsResult(msgspec.Struct, frozen=True, kw_only=True, tag="hls", tag_field="type"):
    """An HLS media playlist (RFC 8216): segment count and durations (seconds), BANDWIDTH
    (peak segment bits/s) and AVERAGE-BANDWIDTH, RESOLUTION `WxH`, CODECS, FRAME-RATE, and
    the segments' total size in bytes (None in facts written before it was recorded), the
    I-frame playlist's key and BANDWIDTH (bits/s), the first video PTS of the segments
    (90 kHz ticks, for WebVTT's `X-TIMESTAMP-MAP`), and the seconds from the task's start
    to its first segment's upload (progressive HLS; None when not progressive)."""

    rendition: str
    playlist_key: str
    segment_count: int
    segment_durations: list[float]
    bandwidth: int
    average_bandwidth: int
    resolution: str
    codecs: str | None = None
    frame_rate: float | None = None
    segments_size_bytes: int | None = None
    iframe_playlist_key: str | None = None
    iframe_bandwidth: int | None = None
    mpegts_start: int | None = None
    first_segment_seconds: float | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels from `resolution`."""
        w, h = self.resolution.split("x")
        return int(w), int(h)


class Thumbnail(msgspec.Struct, frozen=True, kw_only=True):
    """One positional thumbnail: key, position (percent of the span), time in seconds, pixels."""

    key: str
    position_percent: int
    timestamp_seconds: float
    width: int
    height: int


class ThumbnailsResult(msgspec.Struct, frozen=True, kw_only=True, tag="thumbnails", tag_field="type"):
    """The five positional thumbnails and the primary one's key (the 50 % frame)."""

    thumbnails: list[Thumbnail]
    primary: str


class CustomThumbnailResult(msgspec.Struct, frozen=True, kw_only=True, tag="thumbnail_custom", tag_field="type"):
    """The submitter's thumbnail, re-encoded: it becomes the primary thumbnail."""

    primary: str


class Mp3Result(msgspec.Struct, frozen=True, kw_only=True, tag="mp3", tag_field="type"):
    """The MP3 (its figures are in the task's `OutputInfo`)."""


class TranscriptResult(msgspec.Struct, frozen=True, kw_only=True, tag="transcript", tag_field="type"):
    """A Whisper transcript: language (+ detection probability), words, the model used,
    the size the PRD rule asked for and the model the job requested (None: the rule's),
    segment count, media seconds, real-time factor."""

    language: str
    language_probability: float
    word_count: int
    model: str
    model_rule: str | None = None
    model_requested: str | None = None
    segments: int = 0
    duration: float = 0.0
    real_time_factor: float | None = None


class MetadataResult(msgspec.Struct, frozen=True, kw_only=True, tag="metadata", tag_field="type"):
    """metadata.json was written; the multivariant playlist's key if there is one."""

    master_playlist: str | None = None


TaskResult = (VideoResult | HlsResult | ThumbnailsResult | CustomThumbnailResult | Mp3Result | TranscriptResult
              | MetadataResult)

_V1_TYPES: dict[str, str] = {
    layout.THUMBNAILS_TASK: "thumbnails",
    layout.CUSTOM_THUMBNAIL_TASK: "thumbnail_custom",
    layout.MP3_TASK: "mp3",
    layout.TRANSCRIPTION_TASK: "transcript",
    layout.METADATA_TASK: "metadata",
}


def result_from_v1(task: str, details: dict[str, Any]) -> TaskResult | None:
    """The typed result of a schema-1 `TaskCompleted` (untyped `details`), or None when
    the task is unknown or its details do not fit. Schema 1 named rendition tasks
    `video_<r>` / `hls_<r>` (`contracts.layout`); this is the only reader of that convention
    besides the layout itself."""
    tag = _V1_TYPES.get(task)
    if tag is None and "rendition" in details:
        if task == layout.video_task(str(details["rendition"])):
            tag = "video"
        elif task == layout.hls_task(str(details["rendition"])):
            tag = "hls"
    if tag is None:
        return None
    try:
        return cast(TaskResult, msgspec.convert({**details, "type": tag}, TaskResult))
    except msgspec.ValidationError:
        return None
