"""What reading an untrusted input may open: every PyAV open and every ffmpeg input of
this project names its allowed demuxers and protocols, so no file can make FFmpeg open
another file or URL (an HLS playlist, an ffconcat list, an SDP file disguised as a
video), and a source URL can only be the store's HTTP(S).

FFmpeg's AVFormatContext options `format_whitelist` and `protocol_whitelist` (FFmpeg
docs, "Format Options"): a demuxer outside the list fails the open, a protocol outside
it fails before any connection is made.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import av

#: Demuxers a source may be read with: the PRD containers (mov/mp4/3gp, avi, matroska/webm,
#: flv, asf/wmv) and what PeerTube also accepts: MPEG-TS (ts, m2ts, mts), MPEG-PS (mpg,
#: vob), Ogg, MXF, NUT and YUV4MPEG. No playlist, concat or SDP demuxer: nothing that
#: opens another file or URL.
SOURCE_DEMUXERS = "mov,avi,matroska,flv,asf,mpegts,mpeg,ogg,mxf,nut,yuv4mpegpipe"
#: Demuxers of the files this project writes and reads back (MP4, TS segments, MP3, JPEG).
OUTPUT_DEMUXERS = "mov,mpegts,mp3,image2,jpeg_pipe"
#: Demuxers of user still images (custom thumbnails: JPG, PNG, WebP).
IMAGE_DEMUXERS = "jpeg_pipe,png_pipe,webp_pipe,image2"


def protocols(source: str) -> str:
    """The protocols reading `source` needs: `http,tcp` or `https,tls,tcp` for a URL of
    the store (presigned), `file` for a local path. Raises ValueError for any other
    scheme (`file://`, `ftp://`, `concat:` ...)."""
    scheme = urlsplit(source).scheme if "://" in source else ""
    if scheme == "http":
        return "http,tcp"
    if scheme == "https":
        return "https,tls,tcp"
    if scheme or ":" in source.split("/", 1)[0]:  # `concat:a|b`, `subfile:...`: protocols in disguise
        raise ValueError(f"refusing to open {scheme or source.split(':', 1)[0]!r} inputs")
    return "file"


def input_options(source: str, demuxers: str) -> dict[str, str]:
    """ffmpeg input options restricting `source` to `demuxers` and its own protocol."""
    return {"protocol_whitelist": protocols(source), "format_whitelist": demuxers}


def open_input(source: str, demuxers: str = SOURCE_DEMUXERS, timeout: float = 30.0, fmt: str | None = None) -> Any:
    """`av.open` of `source` for reading, restricted to `demuxers` and its protocol;
    network timeouts `timeout` seconds. `fmt` names the demuxer of a file this project
    wrote (no probing: a 1.7 KB TS segment of a still clip is too short for the MPEG-TS
    prober to win). Raises `av.FFmpegError`, ValueError."""
    return av.open(source, mode="r", format=fmt, timeout=(timeout, timeout),
                   container_options=input_options(source, demuxers))


def error_text(e: BaseException) -> str:
    """An open/decode error without the path or URL it names (presigned URLs carry the
    store's address and a signature: not for API clients or logs)."""
    if isinstance(e, av.FFmpegError):
        return str(e.strerror or type(e).__name__)
    return type(e).__name__ + (f": {e}" if "://" not in str(e) else "")
