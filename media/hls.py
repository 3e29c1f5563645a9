"""HLS muxer options and playlists as pure functions (RFC 8216, Apple's HLS authoring
specification).

- Media playlists come from ffmpeg's hls muxer, fed by the encoder itself (`media.encode`
  tees each rendition to its MP4 and to HLS): MPEG-TS segments of `HLS_SEGMENT_SECONDS`
  cut on the aligned keyframes (every segment starts with an IDR), an `EVENT` playlist
  that grows while the encode runs; `finished_playlist` turns the last one `VOD`.
- I-frame playlists (§4.3.3.6, `EXT-X-I-FRAMES-ONLY`) address each keyframe of the TS
  segments by byte range, the PAT/PMT before the first one as `EXT-X-MAP` (§3.2).
- The multivariant playlist lists every ready variant with BANDWIDTH (peak segment
  bit rate), AVERAGE-BANDWIDTH, RESOLUTION, CODECS, FRAME-RATE (§4.3.4.2), its I-frame
  variant (§4.3.4.3), and, once a transcript exists, a SUBTITLES rendition group
  (§4.3.4.1) whose WebVTT carries `X-TIMESTAMP-MAP` (§3.5) to the segments' timestamps.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from media.ladder import HLS_SEGMENT_SECONDS

#: A quoted URI attribute in a playlist tag (RFC 8216 §4.2: quoted-string, no `"` inside).
_URI_ATTR = re.compile(r'URI="([^"]*)"')
#: File name pattern of the segments beside their media playlist (DESIGN.md layout).
SEGMENT_PATTERN = "segment_%03d.ts"


#: The MPEG-TS system clock of PTS/DTS (ISO/IEC 13818-1 §2.4.2.2: 90 kHz): the encoder's
#: time base, so every rendition's timestamps are what its TS segments carry.
MPEGTS_CLOCK_HZ = 90_000


def hls_muxer_options(playlist: Path) -> dict[str, object]:
    """Options of ffmpeg's hls muxer writing `playlist` and `segment_NNN.ts` beside it:
    segments of `HLS_SEGMENT_SECONDS` (cut on the forced keyframes), every segment kept
    (`hls_list_size 0`), an `EVENT` playlist (RFC 8216 §4.3.3.5: segments are only
    appended), `independent_segments`, and `temp_file` (segments and playlist written
    under a temporary name and renamed once complete, so a reader never sees half a file)."""
    return {"f": "hls", "hls_time": HLS_SEGMENT_SECONDS, "hls_list_size": 0, "hls_playlist_type": "event",
            "hls_flags": "independent_segments+temp_file",
            "hls_segment_filename": str(playlist.parent / SEGMENT_PATTERN)}


def finished_playlist(playlist: str) -> str:
    """The final form of a media playlist ffmpeg wrote as `EVENT`: `#EXT-X-PLAYLIST-TYPE:VOD`
    and `#EXT-X-ENDLIST` (added when missing). Raises ValueError if it has no segment."""
    if "#EXTINF:" not in playlist:
        raise ValueError("the media playlist lists no segment")
    lines = [("#EXT-X-PLAYLIST-TYPE:VOD" if line.startswith("#EXT-X-PLAYLIST-TYPE:") else line)
             for line in playlist.splitlines()]
    if not any(line.startswith("#EXT-X-PLAYLIST-TYPE:") for line in lines):
        lines.insert(1, "#EXT-X-PLAYLIST-TYPE:VOD")
    if "#EXT-X-ENDLIST" not in lines:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class IFrame:
    """One keyframe of a TS segment: the segment's URI, its presentation time in seconds,
    and the byte range (`offset`, `length` in bytes) from its PES start to the next video
    PES."""

    uri: str
    time: float
    offset: int
    length: int


def iframe_playlist(frames: list[IFrame], end_time: float, init_uri: str, init_length: int) -> str:
    """An I-frame media playlist (RFC 8216 §4.3.3.6, VOD): each keyframe as a byte range,
    its EXTINF the time to the next keyframe (the last: to `end_time` seconds), the
    PAT/PMT (`init_length` bytes at the start of `init_uri`) as `EXT-X-MAP` (§4.3.2.5,
    version 5). Raises ValueError without frames."""
    if not frames:
        raise ValueError("no keyframe to list")
    durations = [max(0.001, b.time - a.time) for a, b in zip(frames, frames[1:], strict=False)]
    durations.append(max(0.001, end_time - frames[-1].time))
    target = max(1, math.ceil(max(durations)))
    lines = ["#EXTM3U", "#EXT-X-VERSION:5", f"#EXT-X-TARGETDURATION:{target}", "#EXT-X-MEDIA-SEQUENCE:0",
             "#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-I-FRAMES-ONLY",
             f'#EXT-X-MAP:URI="{init_uri}",BYTERANGE="{init_length}@0"']
    for frame, duration in zip(frames, durations, strict=True):
        lines += [f"#EXTINF:{duration:.6f},", f"#EXT-X-BYTERANGE:{frame.length}@{frame.offset}", frame.uri]
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def iframe_bandwidths(frames: list[IFrame], end_time: float) -> tuple[int, int]:
    """(BANDWIDTH, AVERAGE-BANDWIDTH) in bits/s of an I-frame playlist: each keyframe's
    bytes over the time it stands for (RFC 8216 §4.3.4.3)."""
    times = [f.time for f in frames] + [end_time]
    return bandwidths([(max(0.001, times[i + 1] - f.time), f.length) for i, f in enumerate(frames)])


def hls_webvtt(vtt: str, mpegts: int) -> str:
    """A WebVTT document for HLS next to MPEG-TS segments: `X-TIMESTAMP-MAP` (RFC 8216
    §3.5) maps cue time 0 to `mpegts` (90 kHz ticks: the first video PTS of the first
    segment) right after the `WEBVTT` line; an existing map is replaced. Raises
    ValueError if `vtt` does not start with `WEBVTT`."""
    lines = vtt.lstrip("\ufeff").splitlines()
    if not lines or not lines[0].startswith("WEBVTT"):
        raise ValueError("not a WebVTT document")
    body = [line for line in lines[1:] if not line.startswith("X-TIMESTAMP-MAP=")]
    return "\n".join([lines[0], f"X-TIMESTAMP-MAP=MPEGTS:{mpegts},LOCAL:00:00:00.000", *body]) + "\n"


def bandwidths(segments: list[tuple[float, int]]) -> tuple[int, int]:
    """(BANDWIDTH, AVERAGE-BANDWIDTH) in bits/s from `(duration seconds, size bytes)` per
    segment: the peak segment bit rate, and total bits over total duration (RFC 8216)."""
    peak = max((round(size * 8 / dur) for dur, size in segments if dur > 0), default=0)
    total = sum(d for d, _ in segments)
    avg = round(sum(s for _, s in segments) * 8 / total) if total > 0 else 0
    return peak, avg


@dataclass(frozen=True)
class Variant:
    """One ready variant: URI relative to the multivariant playlist; bits/s; pixels; fps;
    its I-frame playlist's URI and BANDWIDTH (bits/s), when it has one."""

    uri: str
    bandwidth: int
    average_bandwidth: int
    width: int
    height: int
    codecs: str
    frame_rate: float
    iframe_uri: str | None = None
    iframe_bandwidth: int | None = None


@dataclass(frozen=True)
class Subtitles:
    """The subtitles rendition: media playlist URI, language (BCP 47), display name."""

    uri: str
    language: str
    name: str


def multivariant_playlist(variants: list[Variant], subtitles: Subtitles | None = None) -> str:
    """The multivariant (master) playlist text, variants by ascending BANDWIDTH, then the
    I-frame variants (`EXT-X-I-FRAME-STREAM-INF`, CODECS without audio)."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:6", "#EXT-X-INDEPENDENT-SEGMENTS"]
    if subtitles is not None:
        lines.append(f'#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="{subtitles.name}",'
                     f'LANGUAGE="{subtitles.language}",DEFAULT=YES,AUTOSELECT=YES,FORCED=NO,URI="{subtitles.uri}"')
    for v in sorted(variants, key=lambda v: v.bandwidth):
        attrs = [f"BANDWIDTH={v.bandwidth}", f"AVERAGE-BANDWIDTH={v.average_bandwidth}",
                 f"RESOLUTION={v.width}x{v.height}", f'CODECS="{v.codecs}"', f"FRAME-RATE={v.frame_rate:.3f}"]
        if subtitles is not None:
            attrs.append('SUBTITLES="subs"')
        lines += ["#EXT-X-STREAM-INF:" + ",".join(attrs), v.uri]
    for v in sorted(variants, key=lambda v: v.bandwidth):
        if v.iframe_uri and v.iframe_bandwidth:
            video_codec = v.codecs.split(",")[0]
            lines.append(f"#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH={v.iframe_bandwidth},RESOLUTION={v.width}x{v.height},"
                         f'CODECS="{video_codec}",URI="{v.iframe_uri}"')
    return "\n".join(lines) + "\n"


def subtitles_playlist(vtt_uri: str, duration: float) -> str:
    """A subtitles media playlist with one WebVTT segment spanning the media (VOD)."""
    target = max(1, int(-(-duration // 1)))
    return "\n".join(["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{target}",
                      "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-PLAYLIST-TYPE:VOD", f"#EXTINF:{duration:.3f},",
                      vtt_uri, "#EXT-X-ENDLIST"]) + "\n"


def rewrite_uris(playlist: str, rewrite: Callable[[str], str]) -> str:
    """`playlist` with every URI replaced by `rewrite(uri)`: the URI lines (every non-blank
    line not starting with `#`) and the `URI="..."` attributes of tags such as
    EXT-X-MEDIA, EXT-X-MAP and EXT-X-I-FRAME-STREAM-INF (RFC 8216 §4.1, §4.3)."""
    out = []
    for line in playlist.splitlines():
        if line.strip() and not line.startswith("#"):
            line = rewrite(line.strip())
        elif line.startswith("#") and 'URI="' in line:
            line = _URI_ATTR.sub(lambda m: f'URI="{rewrite(m.group(1))}"', line)
        out.append(line)
    return "\n".join(out) + "\n"
