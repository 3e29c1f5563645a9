"""Which format FFmpeg itself would detect in a file's first bytes, without opening it.

The source allowlist (`media.inputs.SOURCE_DEMUXERS`) keeps any other demuxer from being
opened, so a refused file would only read "unreadable". To name the format instead
(`unsupported_container: an HLS playlist (hls)`, `no_video_stream` for a FLAC file), the
first bytes are handed to libavformat's own prober, `av_probe_input_format3` (FFmpeg
`libavformat/format.c`), in the libavformat PyAV already loaded: every demuxer's probe
function scores the bytes and the best is named. A probe reads the buffer only: it never
opens the file, another file or a URL, so it is safe on hostile input.
"""

from __future__ import annotations

import ctypes
import glob
import os
from functools import cache

import av

#: Bytes of a file's start given to the prober (FFmpeg's own probesize starts at 2 KiB and
#: grows to 1 MiB; `AVPROBE_PADDING_SIZE` zero bytes follow, as the API requires).
PROBE_BYTES = 1 << 20
PROBE_PADDING = 64
#: The MIME type offered with every probe: FFmpeg's HLS prober names a playlist only with
#: an `.m3u8` name or this type (it refuses to *open* one by the allowlist anyway).
PROBE_MIME = b"application/vnd.apple.mpegurl"


class _ProbeData(ctypes.Structure):
    """`AVProbeData` (libavformat/avformat.h): filename, buf, buf_size, mime_type."""

    _fields_ = [("filename", ctypes.c_char_p), ("buf", ctypes.POINTER(ctypes.c_ubyte)),
                ("buf_size", ctypes.c_int), ("mime_type", ctypes.c_char_p)]


@cache
def _prober() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    """`av_probe_input_format3` of the libavformat bundled with PyAV (`av.libs/`), or of the
    system's when PyAV links a shared one; None when neither can be found."""
    here = os.path.dirname(av.__file__)
    candidates = sorted(glob.glob(os.path.join(here, "..", "av.libs", "libavformat*.so*")))
    candidates += sorted(glob.glob(os.path.join(here, ".dylibs", "libavformat*")))
    candidates.append("libavformat.so")
    for path in candidates:
        try:
            fn = ctypes.CDLL(path).av_probe_input_format3
        except (OSError, AttributeError):
            continue
        fn.restype = ctypes.c_void_p
        fn.argtypes = [ctypes.POINTER(_ProbeData), ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
        return fn
    return None


def detected_format(head: bytes, filename: str = "") -> str | None:
    """The name of the FFmpeg demuxer that best matches `head` (a file's first bytes, up
    to `PROBE_BYTES`), e.g. `"flac"`, `"hls"`, `"mpeg"`, `"mov,mp4,m4a,3gp,3g2,mj2"`; None
    when no demuxer recognises it (random bytes, text) or the prober is unavailable.
    `filename` lets extension-aware probers score (the name only, never opened)."""
    fn = _prober()
    if fn is None or not head:
        return None
    data = head[:PROBE_BYTES]
    buf = (ctypes.c_ubyte * (len(data) + PROBE_PADDING)).from_buffer_copy(data + b"\0" * PROBE_PADDING)
    pd = _ProbeData(os.path.basename(filename).encode("utf-8", "replace"), buf, len(data), PROBE_MIME)
    score = ctypes.c_int(0)
    found = fn(ctypes.byref(pd), 1, ctypes.byref(score))
    if not found:
        return None
    name = ctypes.c_char_p.from_address(found).value  # AVInputFormat's first member: `const char *name`
    return name.decode() if name else None
