"""The MUSTs of Apple's HLS authoring specification that our packaging can break, checked
on a job's stored playlists and segments with the `m3u8` library and PyAV:

- every variant carries BANDWIDTH, AVERAGE-BANDWIDTH, RESOLUTION, CODECS, FRAME-RATE,
  and the measured peak segment bit rate is within 10 % of BANDWIDTH (or below it);
- every video variant has an I-frame playlist (EXT-X-I-FRAME-STREAM-INF) whose byte
  ranges each hold one keyframe;
- every media segment starts with an IDR frame (H.264 NAL unit type 5);
- no segment is longer than the target duration by more than 0.5 s;
- fMP4 segments have EXT-X-MAP; WebVTT subtitles next to MPEG-TS segments carry
  X-TIMESTAMP-MAP.
"""

from __future__ import annotations

import io
import posixpath
from collections.abc import Callable

import av
import m3u8


def _starts_with_idr(data: bytes) -> bool:
    """Whether the first video packet of a TS (or TS byte range) is an H.264 IDR access unit."""
    with av.open(io.BytesIO(data), format="mpegts") as c:
        v = c.streams.video[0]
        for p in c.demux(v):
            if p.size == 0:
                continue
            raw = bytes(p)
            i = raw.find(b"\x00\x00\x01")
            while i >= 0:
                if raw[i + 3] & 0x1F == 5:
                    return True
                i = raw.find(b"\x00\x00\x01", i + 3)
            return False
    return False


def _resolve(base: str, uri: str) -> str:
    """The key `uri` names, relative to the playlist at key `base` (`..` allowed)."""
    return posixpath.normpath(posixpath.join(posixpath.dirname(base), uri))


def check_hls(fetch: Callable[[str], bytes], master_key: str) -> list[str]:
    """Every violation found under the multivariant playlist at `master_key`; `fetch(key)`
    returns an object's bytes. Empty: the job meets the rules above."""
    bad: list[str] = []
    master = m3u8.loads(fetch(master_key).decode())
    if not master.is_variant:
        return [f"{master_key} is not a multivariant playlist"]
    for p in master.playlists:
        si = p.stream_info
        for attr in ("bandwidth", "average_bandwidth", "resolution", "codecs", "frame_rate"):
            if getattr(si, attr) in (None, ""):
                bad.append(f"{p.uri}: EXT-X-STREAM-INF lacks {attr.upper().replace('_', '-')}")
        key = _resolve(master_key, p.uri)
        media = m3u8.loads(fetch(key).decode())
        peak = 0.0
        for seg in media.segments:
            data = fetch(_resolve(key, seg.uri))
            if seg.duration > media.target_duration + 0.5:
                bad.append(f"{seg.uri}: {seg.duration:.3f} s exceeds the target {media.target_duration} s by > 0.5 s")
            if seg.uri.endswith((".m4s", ".mp4")) and not media.segment_map:
                bad.append(f"{key}: fMP4 segments without EXT-X-MAP")
            elif seg.uri.endswith(".ts") and not _starts_with_idr(data):
                bad.append(f"{seg.uri}: does not start with an IDR frame")
            if seg.duration > 0:
                peak = max(peak, len(data) * 8 / seg.duration)
        if si.bandwidth and peak > si.bandwidth * 1.1:
            bad.append(f"{p.uri}: measured peak {peak:.0f} bit/s above BANDWIDTH {si.bandwidth}")
    if len(master.iframe_playlists) != len(master.playlists):
        bad.append(f"{len(master.iframe_playlists)} I-frame playlists for {len(master.playlists)} variants")
    for ip in master.iframe_playlists:
        key = _resolve(master_key, ip.uri)
        frames = m3u8.loads(fetch(key).decode())
        if not frames.is_i_frames_only or not frames.segment_map:
            bad.append(f"{ip.uri}: not an I-frame playlist with EXT-X-MAP")
            continue
        init = frames.segment_map[0]
        length, _, offset = init.byterange.partition("@")
        header = fetch(_resolve(key, init.uri))[int(offset or 0):int(offset or 0) + int(length)]
        cache: dict[str, bytes] = {}
        for seg in frames.segments:
            data = cache.setdefault(seg.uri, fetch(_resolve(key, seg.uri)))
            size, _, start = seg.byterange.partition("@")
            if not _starts_with_idr(header + data[int(start):int(start) + int(size)]):
                bad.append(f"{ip.uri}: byte range {seg.byterange} of {seg.uri} holds no keyframe")
    for m in master.media:
        if m.type == "SUBTITLES" and m.uri:
            key = _resolve(master_key, m.uri)
            subs = m3u8.loads(fetch(key).decode())
            vtt = fetch(_resolve(key, subs.segments[0].uri)).decode()
            if "X-TIMESTAMP-MAP=" not in vtt.split("\n\n", 1)[0]:
                bad.append(f"{m.uri}: WebVTT next to MPEG-TS segments without X-TIMESTAMP-MAP")
    return bad
