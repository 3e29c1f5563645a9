"""Every PyAV read (a presigned URL or a local path): a source's streams, duration,
real frame rate, rotation, and whether its first and last frames decode; the first
and last frame times; a still image's codec; and a finished output's figures.

Side effects only (network/disk reads); the verdict is ingest's.
"""

from __future__ import annotations

import contextlib
import urllib.request
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import msgspec

from contracts import AudioInfo, OutputInfo, VideoInfo
from media.detect import PROBE_BYTES, detected_format
from media.hls import IFrame
from media.inputs import OUTPUT_DEMUXERS, SOURCE_DEMUXERS, error_text, open_input, protocols

#: Video packets read to measure the real frame rate when the container's is unusable.
FPS_SAMPLE_PACKETS = 90
#: Packets of the first video, audio and subtitle stream read after the seek near the end, at most.
END_SAMPLE_PACKETS = 5000
#: Seconds between consecutive video packets beyond which timestamps are implausible (no
#: encoder leaves a minute without a frame; a damaged or forged timestamp does).
TIMESTAMP_GAP_SECONDS = 60.0


class MediaReading(msgspec.Struct, kw_only=True):
    """The raw reading of a source, streams in the contract's shapes (`VideoInfo`,
    `AudioInfo`: one definition of the probe fields from here to the API document).
    `open_error` set: the allowlist's demuxers could not open it, and `detected` names the
    demuxer FFmpeg's prober would have picked (`media.detect`; None: none). `first_frame_error` /
    `end_error`: the first frame or the last second did not decode. `duration_measured`: the
    header stated no duration; it was measured from the packets. `frames`: the video frame
    count the header states (None: unstated). `timestamp_gap`: two consecutive video packets
    more than `TIMESTAMP_GAP_SECONDS` apart near the end, as (from, to) in seconds. A video
    size or frame rate that could not be read is 0; the video size is the header's, read
    before any frame is decoded (`decode_limit_pixels`)."""

    open_error: str | None = None
    container: str | None = None
    duration_seconds: float | None = None
    bitrate: int | None = None
    video: VideoInfo | None = None
    audio: AudioInfo | None = None
    subtitle_streams: int = 0
    first_frame_error: str | None = None
    end_error: str | None = None
    duration_measured: bool = False
    detected: str | None = None
    frames: int | None = None
    timestamp_gap: tuple[float, float] | None = None


#: Transfer characteristics of HDR video (PQ, HLG): tone-mapped to SDR BT.709 on encode.
HDR_TRANSFERS = frozenset({"smpte2084", "arib-std-b67"})


def display_size(width: int, height: int, sample_aspect_ratio: str | None, rotation: int) -> tuple[int, int]:
    """The upright, square-pixel size in pixels: the width scaled by the sample aspect
    ratio (`num:den`, anamorphic sources), swapped for a 90/270 degree rotation."""
    if sample_aspect_ratio:
        num, den = (int(x) for x in sample_aspect_ratio.split(":"))
        if num > 0 and den > 0 and num != den:
            width = round(width * num / den)
    return (height, width) if rotation in (90, 270) else (width, height)


def video_info(*, codec: str, width: int, height: int, fps: float | None, profile: str | None = None,
               bitrate: int | None = None, pixel_format: str | None = None, bit_depth: int | None = None,
               sample_aspect_ratio: str | None = None, rotation: int = 0, interlaced: bool | None = None,
               color_transfer: str | None = None) -> VideoInfo:
    """`VideoInfo` from what a stream says, with the derived fields filled in: display
    size (`display_size`), `hdr` (PQ or HLG transfer), fps rounded to 6 decimals (0 if unknown)."""
    dw, dh = display_size(width, height, sample_aspect_ratio, rotation)
    return VideoInfo(codec=codec, profile=profile, width=width, height=height, display_width=dw, display_height=dh,
                     fps=round(fps or 0.0, 6), bitrate=bitrate, pixel_format=pixel_format, bit_depth=bit_depth,
                     sample_aspect_ratio=sample_aspect_ratio, rotation=rotation, interlaced=interlaced,
                     color_transfer=color_transfer, hdr=color_transfer in HDR_TRANSFERS)


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
    except Exception:  # noqa: BLE001 - an unknown pixel format name: depth unknown
        return None


def read_head(source: str, size: int = PROBE_BYTES, timeout: float = 30.0) -> bytes:
    """The first `size` bytes of `source`: a local path, or an HTTP(S) URL of the store read
    with a `Range` request (RFC 9110 §14.2). Raises OSError (urllib's errors are OSErrors)."""
    if "://" not in source:
        with open(source, "rb") as f:
            return f.read(size)
    protocols(source)  # the store's HTTP(S) only
    request = urllib.request.Request(source, headers={"Range": f"bytes=0-{size - 1}"})
    with urllib.request.urlopen(request, timeout=timeout) as r:  # noqa: S310 - scheme checked above
        data: bytes = r.read(size)
        return data


def is_video(stream: Any) -> bool:
    """Whether a PyAV stream is video proper, not cover art (`attached_pic` disposition)."""
    return not (stream.disposition & av.stream.Disposition.attached_pic)


def read_media(url: str, timeout: float = 30.0, decode_limit_pixels: int | None = None) -> MediaReading:
    """Open `url` with PyAV and read what validation needs. Never raises for bad media:
    problems are recorded in the reading. Network timeouts are `timeout` seconds. When the
    header's frame size exceeds `decode_limit_pixels`, no frame is decoded (a 15000x15000
    frame is 340 MB decoded): the reading stops at the streams."""
    try:
        container = open_input(url, SOURCE_DEMUXERS, timeout)
    except (av.FFmpegError, OSError, ValueError) as e:
        reading = MediaReading(open_error=error_text(e))
        with contextlib.suppress(OSError, ValueError):
            reading.detected = detected_format(read_head(url, timeout=timeout), url.split("?", 1)[0])
        return reading
    with container:
        reading = MediaReading(
            container=container.format.name,
            duration_seconds=container.duration / 1_000_000 if container.duration else None,
            bitrate=container.bit_rate or None,
            subtitle_streams=len(container.streams.subtitles),
        )
        if container.streams.audio:
            a = container.streams.audio[0].codec_context
            reading.audio = AudioInfo(codec=a.name, bitrate=a.bit_rate or None, sample_rate=a.sample_rate or None,
                                      channels=a.channels or None)
        videos = [s for s in container.streams.video if is_video(s)]
        if not videos:
            return reading
        v = videos[0]
        cc = v.codec_context
        reading.frames = v.frames or None
        if reading.duration_seconds is None and v.duration and v.time_base is not None:
            reading.duration_seconds = float(v.duration * v.time_base)
        too_big = decode_limit_pixels is not None and (cc.width or 0) * (cc.height or 0) > decode_limit_pixels
        frame, pts, reading.first_frame_error = (None, [], None) if too_big else _read_start(container, v)
        sar = cc.sample_aspect_ratio
        pix_fmt = cc.format.name if cc.format else None
        reading.video = video_info(
            codec=cc.name, profile=cc.profile,
            width=frame.width if frame is not None else (cc.width or v.width or 0),
            height=frame.height if frame is not None else (cc.height or v.height or 0),
            fps=real_fps(_rate(v.average_rate), v.time_base, pts), bitrate=cc.bit_rate or None,
            pixel_format=pix_fmt, bit_depth=_bit_depth(pix_fmt),
            sample_aspect_ratio=f"{sar.numerator}:{sar.denominator}" if sar else None,
            rotation=int(-(frame.rotation or 0)) % 360 if frame is not None else 0,
            interlaced=bool(frame.interlaced_frame) if frame is not None else None,
            color_transfer=TRANSFERS.get(getattr(cc, "color_trc", None) or 0))
        if too_big:
            return reading
        if reading.first_frame_error is None and reading.duration_seconds:
            tail = [v, *container.streams.audio[:1], *container.streams.subtitles[:1]]
            _read_end(container, tail, stated_duration(reading.duration_seconds, v.frames, _rate(v.average_rate)),
                      reading)
        elif reading.first_frame_error is None:
            # no stated duration (a WebM from MediaRecorder, a live capture): measure it from
            # the packets, from the start to the end (no decode)
            with contextlib.suppress(av.FFmpegError):
                container.seek(0)
            reading.duration_seconds = measured_duration(container)
            reading.duration_measured = reading.duration_seconds is not None
        return reading


def measured_duration(container: Any) -> float | None:
    """Seconds from the first packet to the end of the last one, over every stream, read
    from the current position to the end of `container` (packets only, nothing decoded);
    None when no packet carries a time. For sources whose header states no duration."""
    first = last = None
    try:
        for packet in container.demux():
            if packet.pts is None or packet.time_base is None:
                continue
            start = float(packet.pts * packet.time_base)
            end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
            first = start if first is None else min(first, start)
            last = end if last is None else max(last, end)
    except av.FFmpegError:
        pass  # a damaged tail: the packets read so far stand
    start_time = container.start_time / 1_000_000 if container.start_time else (first or 0.0)
    return round(last - min(start_time, first or 0.0), 3) if last is not None else None


def _read_start(container: Any, v: Any) -> tuple[Any, list[float], str | None]:
    """Decode the first video frame (size, rotation, interlacing) and sample packet times
    (fps): `(frame or None, packet times in seconds, error or None)`."""
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
        return frame, pts, error_text(e)
    return frame, pts, None if frame is not None else "no video frame could be decoded"


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


def _read_end(container: Any, streams: list[Any], duration: float, reading: MediaReading) -> None:
    """Seek to 3 s before the stated end and demux `streams` (the first video, audio and
    subtitle stream: a file with 32 audio tracks reads as many packets as one with one): the
    furthest packet time must reach the stated duration (within `end_tolerance`), and no
    packet may be cut short (flagged corrupt, or its data past the end of the file: an
    index that promises more than the file holds, as in a faststart MP4 cut anywhere). A
    file cut short ends before it, wherever the demuxer's seek lands. Consecutive video
    packets more than `TIMESTAMP_GAP_SECONDS` apart are recorded (`timestamp_gap`)."""
    start = container.start_time / 1_000_000 if container.start_time else 0.0
    wanted = start + duration - end_tolerance(duration)
    reach = previous = None
    size = getattr(container, "size", None)
    try:
        container.seek(int(max(0.0, start + duration - 3.0) * 1_000_000), backward=True)
        for n, packet in enumerate(container.demux(*streams)):
            if packet.is_corrupt or (size and packet.pos is not None and packet.pos >= 0
                                     and packet.pos + packet.size > size):
                at = float(packet.pts * packet.time_base) - start if packet.pts is not None and packet.time_base \
                    else None
                where = f" at {at:.2f} s" if at is not None else ""
                reading.end_error = (f"a packet{where} is cut short (its data runs past the end of the file), "
                                     f"the stated duration is {duration:.2f} s: the file is truncated")
                return
            if packet.pts is not None and packet.time_base is not None:
                t = float((packet.pts + (packet.duration or 0)) * packet.time_base)
                reach = t if reach is None else max(reach, t)
                if packet.stream.index == streams[0].index and packet.size:
                    at = float(packet.pts * packet.time_base)
                    if previous is not None and at - previous > TIMESTAMP_GAP_SECONDS and reading.timestamp_gap is None:
                        reading.timestamp_gap = (round(previous - start, 3), round(at - start, 3))
                    previous = at if previous is None else max(previous, at)
            if n >= END_SAMPLE_PACKETS:
                break
    except av.FFmpegError as e:
        reading.end_error = f"reading near the stated end ({duration:.2f} s) failed: {error_text(e)}"
        return
    if reach is not None and reach >= wanted:
        return  # every packet to the end is whole and reaches the stated duration
    got = "no packet" if reach is None else f"data ends at {reach - start:.2f} s"
    reading.end_error = f"{got}, but the stated duration is {duration:.2f} s: the file is truncated"


def describe_output(path: Path, key: str, kind: str, source_size: int | None = None,
                    encode_seconds: float | None = None) -> OutputInfo:
    """`OutputInfo` of a local output file: size in bytes, video size in pixels, duration
    in seconds, overall bitrate in bits/s, audio sample rate in Hz, compression ratio = source bytes / output bytes."""
    size = path.stat().st_size
    width = height = sample_rate = None
    with open_input(str(path), OUTPUT_DEMUXERS) as c:
        duration = c.duration / 1e6 if c.duration else None
        bitrate = c.bit_rate or (round(size * 8 / duration) if duration else None)
        if c.streams.video:
            v = c.streams.video[0]
            width, height = v.codec_context.width, v.codec_context.height
        if c.streams.audio:
            sample_rate = c.streams.audio[0].codec_context.sample_rate or None
    return OutputInfo(key=key, size_bytes=size, kind=kind, width=width, height=height, bitrate=bitrate,
                      sample_rate=sample_rate,
                      duration_seconds=round(duration, 3) if duration else None,
                      encode_seconds=round(encode_seconds, 3) if encode_seconds is not None else None,
                      compression_ratio=round(source_size / size, 2) if source_size and size else None)


def frame_span(source: str, duration: float, window: float = 3.0) -> tuple[float, float | None]:
    """Presentation times in seconds of the first video frame (decoded: the stream may
    start after 0, e.g. FLV at 0.067 s) and of the last one, in one open of `source`. The
    last: seek `window` seconds before the end and take the latest presentation time of
    the video packets from there (demuxed, not decoded: a damaged last packet is the
    caller's to notice when its frame does not decode); None if no packet has one."""
    last = None
    with open_input(source) as c:
        v = c.streams.video[0]
        first = next((float(f.time) for f in c.decode(v) if f.time is not None), 0.0)
        c.seek(int(max(0.0, duration - window) * 1_000_000), backward=True)
        try:
            for packet in c.demux(v):
                if packet.pts is not None and packet.size and packet.time_base is not None:
                    t = float(packet.pts * packet.time_base)
                    last = t if last is None else max(last, t)
        except av.FFmpegError:
            pass  # a damaged tail: the last packet read stands
    return first, last


def keyframes_at_or_before(source: str, times: list[float]) -> list[float | None]:
    """For each time in seconds, the presentation time of the video keyframe at or before
    it (None where seeking or decoding there fails), in one open of `source`: a
    thumbnail taken there costs one decoded frame, where an accurate seek decodes from that
    keyframe up to the time."""
    out: list[float | None] = []
    with open_input(source) as c:
        v = c.streams.video[0]
        for t in times:
            found = None
            if v.time_base:
                try:
                    c.seek(int(max(0.0, t) / v.time_base), stream=v, backward=True)
                    found = next((float(f.time) for f in c.decode(v) if f.time is not None), None)
                except av.FFmpegError:
                    found = None
            out.append(found if found is not None and found <= t + 1e-3 else None)
    return out


def image_codec(source: str) -> tuple[str, int, int]:
    """`(codec, width, height)` of a still image (decodes its first frame). Raises
    `av.FFmpegError`, `ValueError` when it is not a decodable image."""
    with open_input(source, OUTPUT_DEMUXERS) as c:
        if not c.streams.video:
            raise ValueError("no image in the file")
        v = c.streams.video[0]
        for frame in c.decode(v):
            return v.codec_context.name, frame.width, frame.height
    raise ValueError("no frame decodes")


def ts_keyframes(path: Path, uri: str) -> tuple[list[IFrame], int | None]:
    """The keyframes of one local MPEG-TS segment, as `IFrame`s named `uri` (byte range
    from the keyframe's PES start to the next video PES, or to the end of the file), and
    the first video PTS in 90 kHz ticks (None without video). Raises `av.FFmpegError`."""
    size = path.stat().st_size
    packets: list[tuple[int, int, bool, float]] = []
    with open_input(str(path), OUTPUT_DEMUXERS, fmt="mpegts") as c:
        if not c.streams.video:
            return [], None
        v = c.streams.video[0]
        for p in c.demux(v):
            if p.pos is not None and p.pos >= 0 and p.pts is not None:
                packets.append((p.pos, p.pts, bool(p.is_keyframe), float(p.pts * v.time_base)))
    first_pts = min((pts for _, pts, _, _ in packets), default=None)
    frames = []
    for i, (pos, _pts, key, t) in enumerate(packets):
        if key:
            end = next((q[0] for q in packets[i + 1:] if q[0] > pos), size)
            frames.append(IFrame(uri=uri, time=t, offset=pos, length=end - pos))
    return frames, first_pts
