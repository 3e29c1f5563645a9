"""Thumbnail positions and command lines (pure): positional frames and the custom image."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ffmpeg

from contracts import Probe, layout
from media.filters import normalise_video, source_input
from media.inputs import IMAGE_DEMUXERS, SOURCE_DEMUXERS
from media.ladder import output_size

#: Positions in percent of the duration (PRD; the object layout names them).
POSITIONS = layout.THUMBNAIL_POSITIONS
#: Thumbnails are at most this tall on their short side (pixels).
THUMB_SHORT_SIDE = 720


def thumbnail_times(duration: float, last_frame: float | None, first_frame: float = 0.0) -> dict[int, float]:
    """Seconds of each position: 0 % is the first frame, 100 % the last decodable frame,
    p % in between at p % of the span (never past the end). The thumbnailer takes the
    ones in between at the keyframe at or before these times."""
    end = last_frame if last_frame is not None else max(first_frame, duration - 0.1)
    return {p: round(first_frame + (end - first_frame) * p / 100, 6) for p in POSITIONS}


#: Seconds past a keyframe's time that a keyframe seek aims at: below any frame spacing
#: (2000 fps), so the seek lands on that keyframe whatever the rounding to microseconds.
KEYFRAME_SEEK_SLACK = 0.0005


#: A position between the ends takes the keyframe before it when that lies within this
#: fraction of the video's span (half the distance between positions: two never share a
#: frame).
SNAP_FRACTION = 0.125


@dataclass(frozen=True)
class ThumbnailPlan:
    """How the thumbnails of `thumbnail_times` are taken: `at`, the recorded second of
    every position; `snapped`, positions taken at their keyframe (fast seek, one frame);
    `runs`, `(start keyframe or None, positions)` decoded once from that keyframe
    (`frames_command`)."""

    at: dict[int, float]
    snapped: dict[int, float]
    runs: list[tuple[float | None, list[int]]]


def thumbnail_plan(times: dict[int, float], keyframes: dict[int, float | None],
                   first_frame: float = 0.0) -> ThumbnailPlan:
    """The cheapest way to every position (pure): `keyframes` holds the keyframe at or
    before each position's time (None: unknown). A position between the ends whose
    keyframe is within `SNAP_FRACTION` of the span is taken at that keyframe; the others
    (the first and last frames among them) are grouped by their keyframe, each group
    decoded once from it (None: from the start); a position whose keyframe is unknown is
    in neither, left to an accurate seek; so a short clip with one keyframe is decoded once, and a long
    one only from the keyframes nearest its positions — never in full."""
    span = max(times.values()) - min(times.values())
    snapped = {p: k for p, k in keyframes.items() if 0 < p < 100 and k is not None
               and first_frame + 1e-3 < k <= times[p] and times[p] - k <= SNAP_FRACTION * span}
    groups: dict[float | None, list[int]] = {}
    for p in times:
        k = keyframes.get(p)
        if p not in snapped and k is not None:  # unknown keyframe: left to the caller's accurate seek
            groups.setdefault(None if k <= first_frame + 1e-3 else k, []).append(p)
    runs = sorted(groups.items(), key=lambda kv: -1.0 if kv[0] is None else kv[0])
    return ThumbnailPlan(at={p: snapped.get(p, t) for p, t in times.items()}, snapped=snapped, runs=runs)


def _jpeg(video: Any, probe: Probe, out: Path, **options: object) -> Any:
    """The ffmpeg-python output of decoded `video` as a thumbnail at `out`: normalised
    (upright, SDR), short side at most `THUMB_SHORT_SIDE`, square pixels, full-range
    JPEG quality 2 (`-update 1`: one file, not a pattern)."""
    short = min(probe.video.display_width, probe.video.display_height, THUMB_SHORT_SIDE)
    w, h = output_size(probe.video.display_width, probe.video.display_height, short - short % 2)
    v = normalise_video(video, probe).filter("scale", w, h, out_range="full").filter("setsar", 1)
    return ffmpeg.output(v.filter("format", "yuvj420p"), str(out), **options, **{"q:v": 2, "update": 1})


#: `-ss` as a presentation time of the source, not an offset from its start (ffmpeg's
#: `-seek_timestamp`): the times here are frame times, and an MPEG-TS/M2TS stream starts
#: at 1.4 s, so an offset would land 1.4 s late, past the end of a short clip.
ABSOLUTE_SEEK: dict[str, object] = {"seek_timestamp": 1}


def thumbnail_command(ffmpeg_bin: str, source: str, probe: Probe, at: float, out: Path, last: bool = False,
                      first_frame: float = 0.0, keyframe: bool = False) -> list[str]:
    """ffmpeg argv writing the frame at `at` seconds (accurate input seek) as a JPEG
    (quality 2), upright, SDR, square pixels, short side at most `THUMB_SHORT_SIDE`.
    `last`: the last decodable frame — decode from one second before `at` to the end,
    `-update 1` keeping only the final frame (a seek onto the very last timestamp of
    a VFR stream can land past it). No `-ss` at or before `first_frame`: seeking to a
    time before a stream's first frame yields no frame on some FLVs. `keyframe`: `at` is a
    keyframe's time (`media.probe.keyframes_at_or_before`): a fast seek onto it, one frame
    decoded (`-noaccurate_seek`)."""
    start = max(first_frame, at - 1.0) if last else at
    seek: dict[str, object] = {"ss": f"{start:.3f}", **ABSOLUTE_SEEK} if start > first_frame + 1e-3 else {}
    if seek and keyframe and not last:
        seek = {"ss": f"{at + KEYFRAME_SEEK_SLACK:.6f}", "noaccurate_seek": None, **ABSOLUTE_SEEK}
    v = source_input(source, SOURCE_DEMUXERS, **seek)["v:0"]
    frames = {} if last else {"vframes": 1}
    return (_jpeg(v, probe, out, **frames)
            .global_args("-hide_banner", "-nostats", "-loglevel", "error").overwrite_output().compile(cmd=ffmpeg_bin))


def frames_command(ffmpeg_bin: str, source: str, probe: Probe, picks: dict[Path, float], start: float | None,
                   first_frame: float = 0.0) -> list[str]:
    """ffmpeg argv writing several thumbnails from one decode: from `start` seconds (a
    keyframe at or before every pick; None: the first frame) up to the latest pick, each
    output path of `picks` gets the first frame at or after its time in seconds (`trim`,
    source timestamps kept: `-copyts`), as `thumbnail_command` renders it. Used where
    positions share their keyframes (short or sparsely keyed sources), so the frames
    between are decoded once, not once per position."""
    seek: dict[str, object] = ({"ss": f"{start:.6f}", **ABSOLUTE_SEEK} if start is not None
                               and start > first_frame + 1e-3 else {})
    video = source_input(source, SOURCE_DEMUXERS, **seek)["v:0"]
    branches = video.filter_multi_output("split", len(picks)) if len(picks) > 1 else None
    outs = []
    for i, (out, at) in enumerate(picks.items()):
        v = branches[i] if branches is not None else video
        # the first frame at or after `at`, and only it: the normalisation (a tone map is
        # costly) runs on one frame per branch
        v = v.filter("trim", start=f"{max(0.0, at - KEYFRAME_SEEK_SLACK):.6f}").filter("trim", end_frame=1)
        outs.append(_jpeg(v, probe, out, vframes=1))
    return (ffmpeg.merge_outputs(*outs).global_args("-hide_banner", "-nostats", "-loglevel", "error", "-copyts")
            .overwrite_output().compile(cmd=ffmpeg_bin))


def custom_thumbnail_command(ffmpeg_bin: str, source: str, out: Path) -> list[str]:
    """ffmpeg argv converting an uploaded image (JPG/PNG/WebP) to JPEG quality 2."""
    v = source_input(source, IMAGE_DEMUXERS)["v:0"]
    return (ffmpeg.output(v, str(out), vframes=1, **{"q:v": 2, "update": 1})
            .global_args("-hide_banner", "-nostats", "-loglevel", "error").overwrite_output().compile(cmd=ffmpeg_bin))
