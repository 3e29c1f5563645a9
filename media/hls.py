"""HLS command and playlists as pure functions (RFC 8216).

- Media playlists come from ffmpeg's hls muxer (`-hls_time 10 -hls_list_size 0`, VOD,
  `#EXT-X-ENDLIST`), stream copy of the rendition MP4 (its GOP is aligned, so
  segments start on keyframes).
- The multivariant playlist lists every ready variant with BANDWIDTH (peak segment
  bit rate), AVERAGE-BANDWIDTH, RESOLUTION, CODECS, FRAME-RATE (§4.3.4.2), and, once a
  transcript exists, a SUBTITLES rendition group (§4.3.4.1).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from media.filters import source_input
from media.inputs import OUTPUT_DEMUXERS
from media.ladder import HLS_SEGMENT_SECONDS
from media.run import PROGRESS_ARGS

#: A quoted URI attribute in a playlist tag (RFC 8216 §4.2: quoted-string, no `"` inside).
_URI_ATTR = re.compile(r'URI="([^"]*)"')


def hls_command(ffmpeg_bin: str, mp4: str, playlist: Path) -> list[str]:
    """ffmpeg argv remuxing `mp4` (path or URL) to `playlist` + `segment_NNN.ts` beside it."""
    seg = playlist.parent / "segment_%03d.ts"
    return (ffmpeg.output(source_input(mp4, OUTPUT_DEMUXERS), str(playlist), c="copy", f="hls",
                          hls_time=HLS_SEGMENT_SECONDS, hls_list_size=0, hls_playlist_type="vod",
                          hls_segment_filename=str(seg), hls_flags="independent_segments")
            .global_args(*PROGRESS_ARGS).overwrite_output().compile(cmd=ffmpeg_bin))


def bandwidths(segments: list[tuple[float, int]]) -> tuple[int, int]:
    """(BANDWIDTH, AVERAGE-BANDWIDTH) in bits/s from `(duration seconds, size bytes)` per
    segment: the peak segment bit rate, and total bits over total duration (RFC 8216)."""
    peak = max((round(size * 8 / dur) for dur, size in segments if dur > 0), default=0)
    total = sum(d for d, _ in segments)
    avg = round(sum(s for _, s in segments) * 8 / total) if total > 0 else 0
    return peak, avg


@dataclass(frozen=True)
class Variant:
    """One ready variant: URI relative to the multivariant playlist; bits/s; pixels; fps."""

    uri: str
    bandwidth: int
    average_bandwidth: int
    width: int
    height: int
    codecs: str
    frame_rate: float


@dataclass(frozen=True)
class Subtitles:
    """The subtitles rendition: media playlist URI, language (BCP 47), display name."""

    uri: str
    language: str
    name: str


def multivariant_playlist(variants: list[Variant], subtitles: Subtitles | None = None) -> str:
    """The multivariant (master) playlist text, variants by ascending BANDWIDTH."""
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
