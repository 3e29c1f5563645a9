"""Progressive HLS: while the encode runs, every segment ffmpeg's hls muxer closes is
uploaded, then the growing `EVENT` media playlist that names it (segments first: a
playlist never names a missing object); once the encode ends, the playlist is stored as
`VOD` with its I-frame playlist, and the rendition's `HlsResult` is built.

ffmpeg writes the playlist under a temporary name and renames it (`temp_file`), so
reading it never sees half a file, and a segment it names is closed.
"""

from __future__ import annotations

import asyncio
import errno
import time
from dataclasses import dataclass, field
from pathlib import Path

import m3u8

from contracts import HlsResult, OutputInfo, layout
from media.hls import IFrame, bandwidths, finished_playlist, iframe_bandwidths, iframe_playlist
from media.ladder import Rendition
from media.probe import ts_keyframes
from runtime.storage.objects import Objects

#: Seconds between two looks at the local playlists while ffmpeg encodes.
POLL_SECONDS = 0.2


@dataclass
class RenditionSegments:
    """One rendition's HLS output in the job's scratch folder (`playlist` and the
    segments beside it) and what of it is in the store: `(duration seconds, size bytes)`
    per uploaded segment, their keyframes, the first video PTS (90 kHz ticks), and the
    monotonic time the first segment was stored."""

    job_id: str
    rendition: Rendition
    playlist: Path
    width: int
    height: int
    codecs: str
    frame_rate: float
    segments: list[tuple[float, int]] = field(default_factory=list)
    frames: list[IFrame] = field(default_factory=list)
    mpegts_start: int | None = None
    first_stored_at: float | None = None
    _published: str = ""

    @property
    def key(self) -> str:
        """The media playlist's key (`layout.media_playlist_key`)."""
        return layout.media_playlist_key(self.job_id, self.rendition.name)

    async def sync(self, objects: Objects) -> bool:
        """Upload the segments the local playlist names that are not stored yet, then the
        playlist itself (as ffmpeg wrote it: `EVENT`, growing). Returns whether a segment
        was added. A playlist with `#EXT-X-ENDLIST` is left for `finish`."""
        try:
            text = self.playlist.read_text()
        except FileNotFoundError:
            return False
        if text == self._published or "#EXTM3U" not in text:
            return False  # unchanged, or not a whole playlist (ffmpeg met a full disk writing it)
        parsed = m3u8.loads(text)
        added = False
        prefix = layout.segments_prefix(self.job_id, self.rendition.name)
        for seg in parsed.segments[len(self.segments):]:
            path = self.playlist.parent / seg.uri
            if not path.is_file() or path.stat().st_size == 0:
                raise OSError(errno.EIO, f"segment {seg.uri} named by the playlist is missing or empty", seg.uri)
            size = await objects.upload(prefix + seg.uri, path)
            frames, first_pts = await asyncio.to_thread(ts_keyframes, path, seg.uri)
            self.frames += frames
            if self.mpegts_start is None:
                self.mpegts_start = first_pts
            self.segments.append((float(seg.duration), size))
            added = True
        if self.segments and self.first_stored_at is None:
            self.first_stored_at = time.monotonic()
        if "#EXT-X-ENDLIST" not in text:
            await objects.put(self.key, text.encode())
        self._published = text
        return added

    async def finish(self, objects: Objects, started: float) -> tuple[OutputInfo, HlsResult]:
        """After the encode: store what is left, the I-frame playlist and the playlist as
        `VOD` (`finished_playlist`); the task's output and result. `started`: the task's
        monotonic start (for `first_segment_seconds`). Raises ValueError without segments."""
        await self.sync(objects)
        total = round(sum(d for d, _ in self.segments), 3)
        iframes_key = layout.iframe_playlist_key(self.job_id, self.rendition.name)
        iframe_peak = None
        if self.frames:
            init_uri, init_length = self.frames[0].uri, self.frames[0].offset
            await objects.put(iframes_key, iframe_playlist(self.frames, total, init_uri, init_length).encode())
            iframe_peak = iframe_bandwidths(self.frames, total)[0]
        final = finished_playlist(self.playlist.read_text())
        size = await objects.put(self.key, final.encode())
        peak, average = bandwidths(self.segments)
        info = OutputInfo(key=self.key, size_bytes=size, kind="hls", width=self.width, height=self.height,
                          bitrate=average, duration_seconds=total)
        result = HlsResult(rendition=self.rendition.name, playlist_key=self.key, segment_count=len(self.segments),
                           segment_durations=[round(d, 3) for d, _ in self.segments], bandwidth=peak,
                           average_bandwidth=average, resolution=f"{self.width}x{self.height}", codecs=self.codecs,
                           frame_rate=self.frame_rate, segments_size_bytes=sum(s for _, s in self.segments),
                           iframe_playlist_key=iframes_key if iframe_peak else None, iframe_bandwidth=iframe_peak,
                           mpegts_start=self.mpegts_start,
                           first_segment_seconds=None if self.first_stored_at is None
                           else round(self.first_stored_at - started, 3))
        return info, result

