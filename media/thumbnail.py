"""Thumbnail positions and command lines (pure): positional frames and the custom image."""

from __future__ import annotations

from pathlib import Path

import ffmpeg

from contracts import Probe
from media.filters import normalise_video, output_size, source_input
from media.inputs import IMAGE_DEMUXERS

#: Positions in percent of the duration (PRD).
POSITIONS = (0, 25, 50, 75, 100)
#: Thumbnails are at most this tall on their short side (pixels).
THUMB_SHORT_SIDE = 720


def thumbnail_times(duration: float, last_frame: float | None, first_frame: float = 0.0) -> dict[int, float]:
    """Seconds of each position: 0 % is the first frame, 100 % the last decodable frame,
    p % in between at p % of the span (never past the end)."""
    end = last_frame if last_frame is not None else max(first_frame, duration - 0.1)
    return {p: round(first_frame + (end - first_frame) * p / 100, 6) for p in POSITIONS}


def thumbnail_command(ffmpeg_bin: str, source: str, probe: Probe, at: float, out: Path, last: bool = False,
                      first_frame: float = 0.0) -> list[str]:
    """ffmpeg argv writing the frame at `at` seconds (accurate input seek) as a JPEG
    (quality 2), upright, SDR, square pixels, short side at most `THUMB_SHORT_SIDE`.
    `last`: the last decodable frame — decode from one second before `at` to the end,
    `-update 1` keeping only the final frame (a seek onto the very last timestamp of
    a VFR stream can land past it). No `-ss` at or before `first_frame`: seeking to a
    time before a stream's first frame yields no frame on some FLVs."""
    short = min(probe.video.display_width, probe.video.display_height, THUMB_SHORT_SIDE)
    w, h = output_size(probe.video.display_width, probe.video.display_height, short - short % 2)
    start = max(first_frame, at - 1.0) if last else at
    seek = {"ss": f"{start:.3f}"} if start > first_frame + 1e-3 else {}
    v = normalise_video(source_input(source, **seek)["v:0"], probe)
    v = v.filter("scale", w, h, out_range="full").filter("setsar", 1).filter("format", "yuvj420p")
    frames = {} if last else {"vframes": 1}
    return (ffmpeg.output(v, str(out), **frames, **{"q:v": 2, "update": 1})
            .global_args("-hide_banner", "-nostats", "-loglevel", "error").overwrite_output().compile(cmd=ffmpeg_bin))


def custom_thumbnail_command(ffmpeg_bin: str, source: str, out: Path) -> list[str]:
    """ffmpeg argv converting an uploaded image (JPG/PNG/WebP) to JPEG quality 2."""
    v = source_input(source, IMAGE_DEMUXERS)["v:0"]
    return (ffmpeg.output(v, str(out), vframes=1, **{"q:v": 2, "update": 1})
            .global_args("-hide_banner", "-nostats", "-loglevel", "error").overwrite_output().compile(cmd=ffmpeg_bin))
