"""The PRD ladder: H.264 renditions and their encoder settings, and the MP3.

Source: PRD §transcoding (360p: CRF 23, main@3.1, AAC 96 kb/s 44.1 kHz; 720p: CRF 22,
high@4.0, AAC 128 kb/s 48 kHz; libx264 preset medium; faststart), plus what HLS needs
and the PRD left out: a keyframe every `GOP_SECONDS`, aligned across renditions, no
scene-cut keyframes (so packaging is a stream copy and variants switch cleanly).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from contracts import Probe

#: Seconds between forced keyframes, identical in every rendition.
GOP_SECONDS = 2.0
#: HLS target segment duration in seconds; a multiple of the GOP. A progressive encode is
#: playable once its first segment closes, so this is the media a viewer waits for: the
#: PRD's `-hls_time 10` made that 10 s of media, Apple's recommended 6 s (a SHOULD) still
#: missed 6 s after landing on this 2-core machine, 4 s meets it (README, "Speed").
HLS_SEGMENT_SECONDS = 4


@dataclass(frozen=True)
class Rendition:
    """One rung: `height` in pixels, x264 CRF/profile/level, AAC bitrate (bits/s) and
    sample rate (Hz), and the RFC 6381 CODECS string of its HLS variant."""

    name: str
    height: int
    crf: int
    profile: str
    level: str
    audio_bitrate: int
    audio_sample_rate: int
    codecs_video: str
    preset: str = "medium"
    tune: str | None = None
    x264_params: str | None = None

    @property
    def codecs(self) -> str:
        """CODECS for the multivariant playlist with AAC-LC audio (RFC 8216 §4.3.4.2)."""
        return f"{self.codecs_video},mp4a.40.2"


#: PRD ladder, smallest first. avc1.4d401f = Main@3.1, avc1.640028 = High@4.0.
LADDER: dict[str, Rendition] = {
    "360p": Rendition("360p", 360, 23, "main", "3.1", 96_000, 44_100, "avc1.4d401f"),
    "720p": Rendition("720p", 720, 22, "high", "4.0", 128_000, 48_000, "avc1.640028"),
}

#: MP3: libmp3lame 192 kb/s 48 kHz (PRD).
MP3_BITRATE = 192_000
MP3_SAMPLE_RATE = 48_000


#: Encoder settings per profile: rendition -> (x264 preset, CRF). `prd` is the PRD's
#: (libx264 medium, CRF 23/22). The default, `veryfast` at CRF 20/19, was chosen by
#: bench/encoding.py on four real clips: the least CPU among the profiles whose mean VMAF
#: is within 0.5 of the PRD's (95.79 against 95.73, never more than 1.0 lower on a clip)
#: at 0.45x the PRD's CPU seconds, for 1.41x its bits. `faster` (CRF 22/21) costs 0.65x
#: the CPU for 1.13x the bits at VMAF 95.93 (README, "Encoding chosen by VMAF").
#: Selected by name with `TFLOW_ENCODING_PROFILE`.
ENCODING_PROFILES: dict[str, dict[str, tuple[str, int]]] = {
    "prd": {"360p": ("medium", 23), "720p": ("medium", 22)},
    "veryfast": {"360p": ("veryfast", 20), "720p": ("veryfast", 19)},
    "faster": {"360p": ("faster", 22), "720p": ("faster", 21)},
}
DEFAULT_ENCODING_PROFILE = "veryfast"


def encoding_ladder(profile: str = DEFAULT_ENCODING_PROFILE) -> dict[str, Rendition]:
    """The PRD ladder with the encoder settings of `profile` (`ENCODING_PROFILES`).
    Raises KeyError for an unknown profile name."""
    settings = ENCODING_PROFILES[profile]
    return {name: replace(r, preset=settings[name][0], crf=settings[name][1]) for name, r in LADDER.items()}


def output_size(display_width: int, display_height: int, target: int) -> tuple[int, int]:
    """Output (width, height) in square pixels: the upright short side becomes `target`,
    the long side keeps the display aspect ratio, both even (H.264 4:2:0)."""
    short, long_ = sorted((display_width, display_height))
    scaled_long = max(2, round(long_ * target / short / 2) * 2)
    return (scaled_long, target) if display_width >= display_height else (target, scaled_long)


def ladder_for(probe: Probe) -> list[str]:
    """Rendition names of a source (PRD ladder) by its upright short side: >= 720 ->
    360p + 720p; >= 360 -> 360p (and 360p for anything smaller that passed validation)."""
    short = min(probe.video.display_width, probe.video.display_height)
    return [name for name, r in LADDER.items() if short >= r.height] or ["360p"]
