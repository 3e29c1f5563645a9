"""Answers of `POST /api/v1/jobs/validate` (PRD FR-1.2): whether a file would become a
job, what it is, and what would be made of it, without creating one."""

from __future__ import annotations

from pydantic import Field

from services.api.models.base import Model
from services.api.models.jobs import VideoInfo

__all__ = ["PlannedRendition", "TranscodingOptions", "Rejected", "Validation"]


class PlannedRendition(Model):
    """One rung of the ladder the file would get (PRD ladder): upright output size in
    pixels, H.264 profile/level/CRF, AAC bitrate in bits/s and sample rate in Hz (None:
    the source has no audio)."""

    name: str = Field(examples=["720p"])
    width: int
    height: int
    video_codec: str = "h264"
    profile: str
    level: str
    crf: int
    audio_bitrate: int | None
    audio_sample_rate: int | None


class TranscodingOptions(Model):
    """What a job of this file would produce: the renditions (MP4 + HLS each), the MP3
    and the transcript (with an audio stream), the thumbnail positions (percent of the
    duration), and the task names of its plan (PRD FR-4.1 names)."""

    renditions: list[PlannedRendition]
    hls: bool = True
    audio_mp3: bool
    transcription: bool
    thumbnail_positions_percent: list[int]
    tasks: list[str]


class Rejected(Model):
    """Why the file would be refused: the reason `code` of the README's validation table
    and a sentence for a person."""

    code: str = Field(examples=["unsupported_container"])
    message: str


class Validation(Model):
    """The validation answer (PRD FR-1.2): `valid`, and either `video_info` and
    `transcoding_options` or `error`."""

    valid: bool
    filename: str
    video_info: VideoInfo | None
    transcoding_options: TranscodingOptions | None
    error: Rejected | None
