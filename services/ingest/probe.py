"""Read a media source with PyAV (a presigned URL or a local path): streams, duration,
real frame rate, rotation, and whether the first and the last frames decode.

Side effects only (network/disk reads); the verdict is `validate.py`'s.
"""

from __future__ import annotations

from fractions import Fraction

import av
import msgspec

#: Video packets read to measure the real frame rate when the container's is unusable.
FPS_SAMPLE_PACKETS = 90
#: Packets read after the seek near the end, at most (all streams).
END_SAMPLE_PACKETS = 5000


class StreamReading(msgspec.Struct, kw_only=True):
    """What PyAV says of one stream (`fps` already the real frame rate)."""

    codec: str
    profile: str | None = None
    width: int | None = None
    height: int | None = None
    pixel_format: str | None = None
    bit_depth: int | None = None
    sample_aspect_ratio: str | None = None
    fps: float | None = None
    bitrate: int | None = None
    rotation: int = 0
    interlaced: bool | None = None
    color_transfer: str | None = None
    sample_rate: int | None = None
    channels: int | None = None


class MediaReading(msgspec.Struct, kw_only=True):
    """The raw reading of a source. `open_error` set: nothing else is meaningful.
    `first_frame_error` / `end_error`: the first frame or the last second did not decode."""

    open_error: str | None = None
    container: str | None = None
    duration_seconds: float | None = None
    bitrate: int | None = None
    video: StreamReading | None = None
    audio: StreamReading | None = None
    subtitle_streams: int = 0
    first_frame_error: str | None = None
    end_error: str | None = None


#: FFmpeg AVColorTransferCharacteristic values that matter here (libavutil/pixfmt.h).
TRANSFERS = {1: "bt709", 6: "smpte170m", 13: "iec61966-2-1", 14: "bt2020-10", 15: "bt2020-12",
             16: "smpte2084", 18: "arib-std-b67"}


def _rate(r: Fraction | None) -> float | None:
    return float(r) if r else None


def real_fps(average: float | None, time_base: Fraction | None, pts_seconds: list[float]) -> float | None:
    """The real frame rate in frames/s. The container's average rate is trusted when it is
    plausible (0 < fps <= 240 and not merely 1/time_base, as FLV reports 1000); else the
    rate is measured from packet timestamps: (n - 1) / (last - first)."""
    tb_rate = float(1 / time_base) if time_base else None
    if average and 0 < average <= 240 and (tb_rate is None or abs(average - tb_rate) > 1e-6):
        return average
    ts = sorted(set(pts_seconds))
    if len(ts) >= 2 and ts[-1] > ts[0]:
        return (len(ts) - 1) / (ts[-1] - ts[0])
    return average


def _bit_depth(pix_fmt: str | None) -> int | None:
    if not pix_fmt:
        return None
    try:
        return av.VideoFormat(pix_fmt).components[0].bits
    except Exception:
        return None


def read_media(url: str, timeout: float = 30.0) -> MediaReading:
    """Open `url` with PyAV and read what validation needs. Never raises for bad media:
    problems are recorded in the reading. Network timeouts are `timeout` seconds."""
    try:
        container = av.open(url, timeout=(timeout, timeout))
    except av.FFmpegError as e:
        return MediaReading(open_error=str(e))
    except (OSError, ValueError) as e:
        return MediaReading(open_error=f"{type(e).__name__}: {e}")
    with container:
        reading = MediaReading(
            container=container.format.name,
            duration_seconds=container.duration / 1_000_000 if container.duration else None,
            bitrate=container.bit_rate or None,
            subtitle_streams=len(container.streams.subtitles),
        )
        if container.streams.audio:
            a = container.streams.audio[0]
            cc = a.codec_context
            reading.audio = StreamReading(codec=cc.name, bitrate=cc.bit_rate or None,
                                          sample_rate=cc.sample_rate or None, channels=cc.channels or None)
        if not container.streams.video:
            return reading
        v = container.streams.video[0]
        cc = v.codec_context
        if reading.duration_seconds is None and v.duration:
            reading.duration_seconds = float(v.duration * v.time_base)
        sar = cc.sample_aspect_ratio
        reading.video = StreamReading(
            codec=cc.name, profile=cc.profile, width=cc.width or v.width, height=cc.height or v.height,
            pixel_format=cc.format.name if cc.format else None,
            bit_depth=_bit_depth(cc.format.name if cc.format else None),
            sample_aspect_ratio=f"{sar.numerator}:{sar.denominator}" if sar else None,
            bitrate=cc.bit_rate or None,
            color_transfer=TRANSFERS.get(getattr(cc, "color_trc", None) or 0),
        )
        _read_start(container, v, reading)
        if reading.first_frame_error is None and reading.duration_seconds:
            _read_end(container, stated_duration(reading.duration_seconds, v.frames, _rate(v.average_rate)), reading)
        return reading


def _read_start(container, v, reading: MediaReading) -> None:
    """Decode the first video frame (rotation, interlacing) and sample packet times (fps)."""
    pts: list[float] = []
    frame = None
    try:
        for packet in container.demux(v):
            if packet.pts is not None and packet.time_base is not None:
                pts.append(float(packet.pts * packet.time_base))
            if frame is None:
                for f in packet.decode():
                    frame = f
                    break
            if frame is not None and len(pts) >= FPS_SAMPLE_PACKETS:
                break
    except av.FFmpegError as e:
        reading.first_frame_error = str(e)
    if frame is None and reading.first_frame_error is None:
        reading.first_frame_error = "no video frame could be decoded"
    assert reading.video is not None
    reading.video.fps = real_fps(_rate(v.average_rate), v.time_base, pts)
    if frame is not None:
        reading.video.rotation = int(-(frame.rotation or 0)) % 360
        reading.video.interlaced = bool(frame.interlaced_frame)
        reading.video.width, reading.video.height = frame.width, frame.height


def stated_duration(duration: float, frames: int | None, average_rate: float | None) -> float:
    """The duration the file claims: the demuxer's, or the header's frame count over the
    average rate when that is longer (AVI: FFmpeg shortens a cut file's duration to what
    is there, but `avih`/`strh` still count every frame)."""
    if frames and average_rate and 0 < average_rate <= 240:
        return max(duration, frames / average_rate)
    return duration


def end_tolerance(duration: float) -> float:
    """Seconds the last packet may fall short of the stated duration: 10 % of it,
    between 0.5 s and 2 s (last-frame duration, audio priming, container rounding)."""
    return max(0.5, min(2.0, 0.1 * duration))


def _read_end(container, duration: float, reading: MediaReading) -> None:
    """Seek to 3 s before the stated end and demux every stream: the furthest packet
    time must reach the stated duration (within `end_tolerance`). A file cut short
    ends before it, wherever the demuxer's seek lands."""
    start = container.start_time / 1_000_000 if container.start_time else 0.0
    wanted = start + duration - end_tolerance(duration)
    reach = None
    try:
        container.seek(int(max(0.0, start + duration - 3.0) * 1_000_000), backward=True)
        for n, packet in enumerate(container.demux()):
            if packet.pts is not None and packet.time_base is not None:
                t = float((packet.pts + (packet.duration or 0)) * packet.time_base)
                reach = t if reach is None else max(reach, t)
                if reach >= wanted:
                    return
            if n >= END_SAMPLE_PACKETS:
                break
    except av.FFmpegError as e:
        reading.end_error = f"reading near the stated end ({duration:.2f} s) failed: {e}"
        return
    got = "no packet" if reach is None else f"data ends at {reach - start:.2f} s"
    reading.end_error = f"{got}, but the stated duration is {duration:.2f} s: the file is truncated"
