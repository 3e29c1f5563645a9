"""Reading finished outputs with PyAV (sizes, duration, bitrate) for completion facts."""

from __future__ import annotations

from pathlib import Path

import av

from contracts import OutputInfo


def describe_output(path: Path, key: str, kind: str, source_size: int | None = None,
                    encode_seconds: float | None = None) -> OutputInfo:
    """`OutputInfo` of a local output file: size in bytes, video size in pixels, duration
    in seconds, overall bitrate in bits/s, compression ratio = source bytes / output bytes."""
    size = path.stat().st_size
    width = height = None
    with av.open(str(path)) as c:
        duration = c.duration / 1e6 if c.duration else None
        bitrate = c.bit_rate or (round(size * 8 / duration) if duration else None)
        if c.streams.video:
            v = c.streams.video[0]
            width, height = v.codec_context.width, v.codec_context.height
    return OutputInfo(key=key, size_bytes=size, kind=kind, width=width, height=height, bitrate=bitrate,
                      duration_seconds=round(duration, 3) if duration else None,
                      encode_seconds=round(encode_seconds, 3) if encode_seconds is not None else None,
                      compression_ratio=round(source_size / size, 2) if source_size and size else None)


def frame_span(source: str, duration: float, window: float = 3.0) -> tuple[float, float | None]:
    """Presentation times in seconds of the first and the last decodable video frames,
    in one open of `source` (the stream may start after 0, e.g. FLV at 0.067 s). The
    last: seek `window` seconds before the end and decode to it; None if nothing decodes
    there."""
    last = None
    with av.open(source, timeout=(30, 30)) as c:
        v = c.streams.video[0]
        first = next((float(f.time) for f in c.decode(v) if f.time is not None), 0.0)
        c.seek(int(max(0.0, duration - window) * 1_000_000), backward=True)
        try:
            for frame in c.decode(v):
                if frame.time is not None:
                    last = float(frame.time)
        except av.FFmpegError:
            pass  # a damaged tail: the last frame that did decode stands
    return first, last


def image_codec(source: str) -> tuple[str, int, int]:
    """`(codec, width, height)` of a still image (decodes its first frame). Raises
    `av.FFmpegError`, `ValueError` when it is not a decodable image."""
    with av.open(source, timeout=(30, 30)) as c:
        if not c.streams.video:
            raise ValueError("no image in the file")
        v = c.streams.video[0]
        for frame in c.decode(v):
            return v.codec_context.name, frame.width, frame.height
    raise ValueError("no frame decodes")
