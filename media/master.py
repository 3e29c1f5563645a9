"""The one builder of a job's multivariant (master) playlist, for its one writer, the
finalizer (`services.finalizer`): from what the job's facts and stored media playlists
say, the variants and the subtitles rendition group (RFC 8216 §4.3.4).

A variant is either *finished* (its `hls_<rendition>` task completed: the `HlsResult`
carries the final BANDWIDTH, AVERAGE-BANDWIDTH, I-frame variant) or *growing* (the
transcoder is still encoding it and its `EVENT` media playlist in the store names at least
one segment: BANDWIDTH is the peak of the segments stored so far, RESOLUTION and CODECS
are the ladder's for this source). A rendition with neither is not listed: a player is
never sent to a playlist without a segment.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts import HlsResult, Probe, layout
from media.hls import Subtitles, Variant, bandwidths, multivariant_playlist
from media.ladder import Rendition, output_size


def finished_variant(job_id: str, hls: HlsResult) -> Variant:
    """The variant of a completed `hls_<rendition>` task, URIs relative to the job's folder."""
    w, h = hls.size
    return Variant(uri=layout.relative_to_job(job_id, hls.playlist_key), bandwidth=hls.bandwidth,
                   average_bandwidth=hls.average_bandwidth, width=w, height=h, codecs=hls.codecs or "",
                   frame_rate=hls.frame_rate or 0.0,
                   iframe_uri=layout.relative_to_job(job_id, hls.iframe_playlist_key)
                   if hls.iframe_playlist_key else None, iframe_bandwidth=hls.iframe_bandwidth)


def growing_variant(job_id: str, rendition: Rendition, probe: Probe,
                    segments: list[tuple[float, int]]) -> Variant | None:
    """The variant of a rendition still being encoded, from its stored segments
    `(duration seconds, size bytes)`; None before its first segment. RESOLUTION is the
    ladder's output size for the source's display size, CODECS without audio for a silent
    source (`media.ladder.Rendition`)."""
    if not segments or probe.video is None:
        return None
    peak, average = bandwidths(segments)
    w, h = output_size(probe.video.display_width, probe.video.display_height, rendition.height)
    return Variant(uri=layout.relative_to_job(job_id, layout.media_playlist_key(job_id, rendition.name)),
                   bandwidth=peak, average_bandwidth=average, width=w, height=h,
                   codecs=rendition.codecs if probe.audio is not None else rendition.codecs_video,
                   frame_rate=probe.video.fps)


@dataclass(frozen=True)
class MasterPlaylist:
    """A job's multivariant playlist: its variants (finished or growing) and subtitles."""

    variants: tuple[Variant, ...]
    subtitles: Subtitles | None = None

    @property
    def listed(self) -> frozenset[str]:
        """The variants' media playlist URIs: what a rewrite would change."""
        return frozenset(v.uri for v in self.variants)

    def text(self) -> str:
        """The playlist (`media.hls.multivariant_playlist`: variants by ascending BANDWIDTH)."""
        return multivariant_playlist(list(self.variants), self.subtitles)
