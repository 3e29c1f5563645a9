"""The verdict on a source as pure functions, the same at the API's door and in ingest: a
`MediaReading` + size + settings -> `Probe` or a `Rejection` (code, whole-sentence
message); and the PRD ladder plan of a valid source."""

from __future__ import annotations

from contracts import JobOptions, PlannedTask, Probe, layout
from media.ladder import ladder_for
from media.probe import MediaReading, read_media
from runtime.settings import IntakeSettings

#: FFmpeg demuxer name -> container names of the allowlist it serves (PeerTube's accepted
#: extensions, `server/initializers/constants.ts`, besides the PRD's seven).
DEMUXER_CONTAINERS: dict[str, frozenset[str]] = {
    "mov,mp4,m4a,3gp,3g2,mj2": frozenset({"mp4", "mov", "3gp", "3g2"}),
    "matroska,webm": frozenset({"mkv", "webm"}),
    "avi": frozenset({"avi"}),
    "flv": frozenset({"flv"}),
    "asf": frozenset({"wmv"}),
    "mpegts": frozenset({"ts", "m2ts", "mts"}),
    "mpeg": frozenset({"mpg", "mpeg", "vob"}),
    "ogg": frozenset({"ogv", "ogg"}),
    "mxf": frozenset({"mxf"}),
    "nut": frozenset({"nut"}),
    "yuv4mpegpipe": frozenset({"y4m"}),
}
#: Demuxers of audio-only formats: a file FFmpeg detects as one of them has no video stream.
AUDIO_DEMUXERS = frozenset({"mp3", "flac", "wav", "w64", "aiff", "aac", "ac3", "eac3", "dts", "truehd", "mlp",
                            "amr", "amrnb", "amrwb", "ape", "wv", "tta", "caf", "au", "mpc", "mpc8", "tak",
                            "dsf", "shorten", "voc", "xwma", "loas", "s337m", "spdif", "iff", "rso", "sox"})
#: What some detected formats are, for the reason (FFmpeg demuxer name -> words).
FORMAT_WORDS = {"hls": "an HLS playlist", "concat": "an FFmpeg concat list", "sdp": "an SDP session description",
                "dash": "a DASH manifest", "imf": "an IMF composition playlist", "image2": "a still image",
                "png_pipe": "a PNG image", "jpeg_pipe": "a JPEG image", "webp_pipe": "a WebP image",
                "gif": "a GIF image", "apng": "an animated PNG image", "bmp_pipe": "a BMP image",
                "tiff_pipe": "a TIFF image", "webvtt": "a WebVTT subtitle file", "srt": "a SubRip subtitle file",
                "ass": "an ASS subtitle file", "h264": "a raw H.264 stream", "hevc": "a raw HEVC stream",
                "mpegvideo": "a raw MPEG video stream", "rm": "a RealMedia file", "dv": "a DV stream",
                "mjpeg": "a raw Motion JPEG stream", "swf": "a Flash (SWF) file"}


class Rejection(Exception):
    """A source that cannot become a job: `code` (machine, the README's table) and
    `message` (a whole sentence for a person: no paths, URLs or errno numbers)."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


def check_size(size_bytes: int, s: IntakeSettings) -> None:
    """Raise `Rejection` unless 0 < size_bytes <= `max_size_bytes` (checked before any read)."""
    if size_bytes == 0:
        raise Rejection("empty_file", "The file is empty (0 bytes).")
    if size_bytes > s.max_size_bytes:
        raise Rejection("too_large", f"The file is {size_bytes} bytes, above the limit of {s.max_size_bytes} bytes.")


def format_words(demuxer: str) -> str:
    """How a reason names the FFmpeg demuxer `demuxer`: e.g. `an HLS playlist (hls)`."""
    words = FORMAT_WORDS.get(demuxer)
    return f"{words} ({demuxer})" if words else f"the format '{demuxer}'"


def allowed_names(s: IntakeSettings) -> str:
    """The allowlist as a reason shows it."""
    return ", ".join(sorted({c.lower() for c in s.allowed_containers}))


def _unopened(reading: MediaReading, s: IntakeSettings) -> Rejection:
    """The rejection of a file the allowlist's demuxers could not open (`open_error`)."""
    detected = reading.detected
    if detected in AUDIO_DEMUXERS:
        return Rejection("no_video_stream", f"The file is audio only ({detected}): it has no video stream.")
    if detected and detected not in DEMUXER_CONTAINERS:
        return Rejection("unsupported_container",
                         f"FFmpeg detects {format_words(detected)}, which is not an accepted video container "
                         f"(accepted: {allowed_names(s)}).")
    said = (reading.open_error or "").rstrip(".")
    what = f"as {detected}" if detected else "as any accepted container"
    return Rejection("unreadable", f"The file cannot be read {what}: {said[:1].lower() + said[1:]}.")


def validate(reading: MediaReading, size_bytes: int, s: IntakeSettings) -> Probe:
    """Return the `Probe` of a valid source; raise `Rejection` with the first broken rule.

    Rules (PRD §6.1 category 1, README "Validation"): size 1 byte .. `max_size_bytes`; a
    container FFmpeg reads with the allowlisted demuxers, in `allowed_containers` (judged
    by content, not by file name; any other detected format is `unsupported_container`
    naming it); a video stream (`no_video_stream` for any container without one); duration
    `min_duration_seconds` .. `max_duration_seconds`; display size at least `min_width` x
    `min_height` in either orientation and at most `max_frame_pixels`; frames x pixels
    within `max_pixel_frames`; plausible timestamps; first frame and last second decode.
    """
    check_size(size_bytes, s)
    if reading.open_error is not None:
        raise _unopened(reading, s)
    v = reading.video
    if v is None:
        what = f"only audio ({reading.audio.codec})" if reading.audio else "no audio or video streams"
        raise Rejection("no_video_stream", f"The file has no video stream: it holds {what}.")
    names = DEMUXER_CONTAINERS.get(reading.container or "", frozenset())
    if not names & {c.lower() for c in s.allowed_containers}:
        raise Rejection(
            "unsupported_container",
            f"The container '{reading.container}' is not allowed here (allowed: {allowed_names(s)}; "
            "TFLOW_ALLOWED_CONTAINERS sets the list).",
        )
    d = reading.duration_seconds
    if d is None or d <= 0:
        raise Rejection("unknown_duration", "The duration cannot be read from the file.")
    if d < s.min_duration_seconds:
        raise Rejection("too_short", f"The duration {d:.2f} s is below the minimum of {s.min_duration_seconds:g} s.")
    if d > s.max_duration_seconds:
        raise Rejection("too_long", f"The duration {d:.0f} s is above the maximum of {s.max_duration_seconds:g} s.")
    if not v.width or not v.height:
        raise Rejection("corrupt", f"The video stream ({v.codec}) states no frame size.")
    dw, dh = v.display_width, v.display_height
    if max(dw, dh) < max(s.min_width, s.min_height) or min(dw, dh) < min(s.min_width, s.min_height):
        raise Rejection("resolution_too_low",
                        f"The video is {dw}x{dh}, below the minimum of {s.min_width}x{s.min_height}.")
    if v.width * v.height > s.max_frame_pixels:
        raise Rejection("resolution_too_high", f"The video is {v.width}x{v.height} ({v.width * v.height} pixels a "
                        f"frame), above the limit of {s.max_frame_pixels} pixels a frame.")
    if reading.timestamp_gap is not None:
        a, b = reading.timestamp_gap
        raise Rejection("implausible_timestamps", f"The video's timestamps jump from {a:.2f} s to {b:.2f} s with no "
                        "frame between: the stated duration is not the content's.")
    if reading.frames and v.fps and reading.frames < d * v.fps / 100:
        raise Rejection("implausible_timestamps", f"The file states {d:.0f} s but holds {reading.frames} frames at "
                        f"{v.fps:g} fps ({reading.frames / v.fps:.1f} s): its timestamps are not the content's.")
    pixel_frames = v.width * v.height * (v.fps or 30.0) * d
    if pixel_frames > s.max_pixel_frames:
        raise Rejection("over_budget", f"{v.width}x{v.height} at {v.fps:g} fps for {d:.0f} s is {pixel_frames:.3g} "
                        f"pixel-frames, above the budget of {s.max_pixel_frames:.3g} per job.")
    if reading.first_frame_error is not None:
        raise Rejection("corrupt", f"The first video frame does not decode: {reading.first_frame_error}.")
    if reading.end_error is not None:
        raise Rejection("truncated", reading.end_error[:1].upper() + reading.end_error[1:].rstrip(".") + ".")
    return Probe(container=reading.container or "", duration_seconds=round(d, 6), size_bytes=size_bytes,
                 bitrate=reading.bitrate, video=v, audio=reading.audio, subtitle_streams=reading.subtitle_streams)


def judge_source(source: str, size_bytes: int, s: IntakeSettings) -> Probe:
    """The verdict on `source` (a local path or a presigned URL of `size_bytes` bytes): the
    size checked before any read, then one PyAV reading (blocking: call it in a thread),
    no frame decoded above `max_frame_pixels`. Returns the `Probe`; raises `Rejection`."""
    check_size(size_bytes, s)
    return validate(read_media(source, s.probe_timeout_seconds, s.max_frame_pixels), size_bytes, s)


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
