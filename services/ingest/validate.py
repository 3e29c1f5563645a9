"""The ingest verdict as pure functions: a `MediaReading` + size + settings -> `Probe`
or a rejection (code, message); and the PRD ladder plan of a valid source."""

from __future__ import annotations

from contracts import JobOptions, PlannedTask, Probe, layout
from media.ladder import ladder_for
from media.probe import MediaReading
from runtime.settings import IntakeSettings

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

class Rejection(Exception):
    """A source that cannot become a job: `code` (machine) and `message` (human)."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


def check_size(size_bytes: int, s: IntakeSettings) -> None:
    """Raise `Rejection` unless 0 < size_bytes <= `max_size_bytes` (checked before any read)."""
    if size_bytes == 0:
        raise Rejection("empty_file", "the file is empty (0 bytes)")
    if size_bytes > s.max_size_bytes:
        raise Rejection("too_large", f"the file is {size_bytes} bytes, above the limit of {s.max_size_bytes} bytes")


def validate(reading: MediaReading, size_bytes: int, s: IntakeSettings) -> Probe:
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
    dw, dh = v.display_width, v.display_height
    if max(dw, dh) < max(s.min_width, s.min_height) or min(dw, dh) < min(s.min_width, s.min_height):
        raise Rejection(
            "resolution_too_low",
            f"{dw}x{dh} is below the minimum of {s.min_width}x{s.min_height}",
        )
    if reading.first_frame_error is not None:
        raise Rejection("corrupt", f"the first video frame does not decode: {reading.first_frame_error}")
    if reading.end_error is not None:
        raise Rejection("truncated", reading.end_error)
    return Probe(container=reading.container or "", duration_seconds=round(d, 6), size_bytes=size_bytes,
                 bitrate=reading.bitrate, video=v, audio=reading.audio, subtitle_streams=reading.subtitle_streams)


def plan_tasks(probe: Probe, options: JobOptions | None = None, transcription: bool = True) -> list[PlannedTask]:
    """The tasks a valid source needs: per rendition an MP4 (`video_<r>`) and its HLS
    packaging (`hls_<r>`); thumbnails (and `thumbnail_custom`, optional, when the job
    brings one); with an audio stream the MP3 and, when `transcription` is on, the
    transcript; last `metadata` (metadata.json, written once all others completed)."""
    tasks: list[PlannedTask] = []
    for r in ladder_for(probe):
        tasks.append(PlannedTask(name=layout.video_task(r), kind="transcode", rendition=r))
        tasks.append(PlannedTask(name=layout.hls_task(r), kind="package", rendition=r))
    tasks.append(PlannedTask(name=layout.THUMBNAILS_TASK, kind="thumbnails"))
    if options is not None and options.thumbnail_key:
        tasks.append(PlannedTask(name=layout.CUSTOM_THUMBNAIL_TASK, kind="thumbnails", optional=True))
    if probe.audio is not None:
        tasks.append(PlannedTask(name=layout.MP3_TASK, kind="audio"))
        if transcription:
            tasks.append(PlannedTask(name=layout.TRANSCRIPTION_TASK, kind="transcription"))
    tasks.append(PlannedTask(name=layout.METADATA_TASK, kind="metadata"))
    return tasks
