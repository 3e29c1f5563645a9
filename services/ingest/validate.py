"""The ingest verdict as pure functions: a `MediaReading` + size + settings -> `Probe`
or a rejection (code, message); and the PRD ladder plan of a valid source."""

from __future__ import annotations

from contracts import AudioInfo, JobOptions, PlannedTask, Probe, VideoInfo
from services.ingest.probe import MediaReading
from tflow.ladder import LADDER
from tflow.settings import Settings

#: FFmpeg demuxer name -> container names of the allowlist it serves.
DEMUXER_CONTAINERS: dict[str, frozenset[str]] = {
    "mov,mp4,m4a,3gp,3g2,mj2": frozenset({"mp4", "mov"}),
    "matroska,webm": frozenset({"mkv", "webm"}),
    "avi": frozenset({"avi"}),
    "flv": frozenset({"flv"}),
    "asf": frozenset({"wmv"}),
    "mpegts": frozenset({"ts"}),
    "mpeg": frozenset({"mpg"}),
}

#: Transfer characteristics of HDR video (PQ, HLG): tone-mapped to SDR BT.709 on encode.
HDR_TRANSFERS = frozenset({"smpte2084", "arib-std-b67"})


class Rejection(Exception):
    """A source that cannot become a job: `code` (machine) and `message` (human)."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


def _display_size(width: int, height: int, sar: str | None, rotation: int) -> tuple[int, int]:
    if sar:
        num, den = (int(x) for x in sar.split(":"))
        if num > 0 and den > 0 and num != den:
            width = round(width * num / den)
    return (height, width) if rotation in (90, 270) else (width, height)


def check_size(size_bytes: int, s: Settings) -> None:
    """Raise `Rejection` unless 0 < size_bytes <= `max_size_bytes` (checked before any read)."""
    if size_bytes == 0:
        raise Rejection("empty_file", "the file is empty (0 bytes)")
    if size_bytes > s.max_size_bytes:
        raise Rejection("too_large", f"the file is {size_bytes} bytes, above the limit of {s.max_size_bytes} bytes")


def validate(reading: MediaReading, size_bytes: int, s: Settings) -> Probe:
    """Return the `Probe` of a valid source; raise `Rejection` with the first broken rule.

    Rules (PRD): size 1 byte .. `max_size_bytes`; container in `allowed_containers`
    (judged by content, not by file name); a video stream; duration from
    `min_duration_seconds` to `max_duration_seconds`; display size at least
    `min_width` x `min_height` in either orientation; first frame and last second decode.
    """
    check_size(size_bytes, s)
    if reading.open_error is not None:
        raise Rejection("unreadable", f"not a readable media file: {reading.open_error}")
    allowed = {c.lower() for c in s.allowed_containers}
    names = DEMUXER_CONTAINERS.get(reading.container or "", frozenset())
    if not names & allowed:
        raise Rejection(
            "unsupported_container",
            f"container '{reading.container}' is not allowed (allowed: {', '.join(sorted(allowed))}; "
            "set TFLOW_ALLOWED_CONTAINERS to change)",
        )
    v = reading.video
    if v is None:
        what = f"only audio ({reading.audio.codec})" if reading.audio else "no streams"
        raise Rejection("no_video_stream", f"the file has no video stream ({what})")
    d = reading.duration_seconds
    if d is None or d <= 0:
        raise Rejection("unknown_duration", "the duration cannot be read")
    if d < s.min_duration_seconds:
        raise Rejection("too_short", f"duration {d:.2f} s is below the minimum of {s.min_duration_seconds:g} s")
    if d > s.max_duration_seconds:
        raise Rejection("too_long", f"duration {d:.0f} s is above the maximum of {s.max_duration_seconds:g} s")
    if not v.width or not v.height:
        raise Rejection("corrupt", f"the video stream ({v.codec}) has no frame size")
    dw, dh = _display_size(v.width, v.height, v.sample_aspect_ratio, v.rotation)
    if max(dw, dh) < max(s.min_width, s.min_height) or min(dw, dh) < min(s.min_width, s.min_height):
        raise Rejection(
            "resolution_too_low",
            f"{dw}x{dh} is below the minimum of {s.min_width}x{s.min_height}",
        )
    if reading.first_frame_error is not None:
        raise Rejection("corrupt", f"the first video frame does not decode: {reading.first_frame_error}")
    if reading.end_error is not None:
        raise Rejection("truncated", reading.end_error)
    a = reading.audio
    return Probe(
        container=reading.container or "",
        duration_seconds=round(d, 6),
        size_bytes=size_bytes,
        bitrate=reading.bitrate,
        video=VideoInfo(
            codec=v.codec, profile=v.profile, width=v.width, height=v.height, display_width=dw, display_height=dh,
            fps=round(v.fps or 0.0, 6), bitrate=v.bitrate, pixel_format=v.pixel_format, bit_depth=v.bit_depth,
            sample_aspect_ratio=v.sample_aspect_ratio, rotation=v.rotation, interlaced=v.interlaced,
            color_transfer=v.color_transfer, hdr=v.color_transfer in HDR_TRANSFERS,
        ),
        audio=AudioInfo(codec=a.codec, bitrate=a.bitrate, sample_rate=a.sample_rate, channels=a.channels) if a else None,
        subtitle_streams=reading.subtitle_streams,
    )


def ladder_for(probe: Probe) -> list[str]:
    """PRD ladder by the upright short side: >= 720 -> 360p + 720p; >= 360 -> 360p."""
    short = min(probe.video.display_width, probe.video.display_height)
    return [name for name, r in LADDER.items() if short >= r.height] or ["360p"]


def plan_tasks(probe: Probe, options: JobOptions | None = None, transcription: bool = True) -> list[PlannedTask]:
    """The tasks a valid source needs: per rendition an MP4 (`video_<r>`) and its HLS
    packaging (`hls_<r>`); thumbnails (and `thumbnail_custom`, optional, when the job
    brings one); with an audio stream the MP3 and, when `transcription` is on, the
    transcript; last `metadata` (metadata.json, written once all others completed)."""
    tasks: list[PlannedTask] = []
    for r in ladder_for(probe):
        tasks.append(PlannedTask(name=f"video_{r}", kind="transcode", rendition=r))
        tasks.append(PlannedTask(name=f"hls_{r}", kind="package", rendition=r))
    tasks.append(PlannedTask(name="thumbnails", kind="thumbnails"))
    if options is not None and options.thumbnail_key:
        tasks.append(PlannedTask(name="thumbnail_custom", kind="thumbnails", optional=True))
    if probe.audio is not None:
        tasks.append(PlannedTask(name="audio_mp3", kind="audio"))
        if transcription:
            tasks.append(PlannedTask(name="transcription", kind="transcription"))
    tasks.append(PlannedTask(name="metadata", kind="metadata"))
    return tasks
