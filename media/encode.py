"""Encode and quality-measurement command lines, built with ffmpeg-python (pure functions).

One ffmpeg process decodes the source once and encodes every rendition and the MP3
(`split` in the filter graph): on this 2-core machine that beat one process per
rendition (see bench/transcode.py and the README). Each rendition's encoded streams go
through the `tee` muxer to its faststart MP4 and to its HLS segments at once, so the
segments exist while the encode runs (progressive HLS) and no second pass re-muxes them.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import ffmpeg

from contracts import Probe
from media.filters import normalise_video, output_size, source_input
from media.hls import hls_muxer_options
from media.inputs import OUTPUT_DEMUXERS
from media.ladder import GOP_SECONDS, MP3_BITRATE, MP3_SAMPLE_RATE, Rendition
from media.run import PROGRESS_ARGS

#: Characters the tee muxer's slave syntax gives a meaning to (`[opts]path|...`).
_TEE_SPECIAL = set("|[]:\\'=")


def tee_slave(options: dict[str, object], path: Path) -> str:
    """One slave of ffmpeg's `tee` muxer: `[k=v:k=v]path` (FFmpeg formats docs, "tee").
    Raises ValueError when a value or the path holds a character of the slave syntax."""
    parts = []
    for key, value in options.items():
        text = str(value)
        if _TEE_SPECIAL & set(text):
            raise ValueError(f"tee option {key}={text!r} holds a reserved character")
        parts.append(f"{key}={text}")
    if _TEE_SPECIAL & set(str(path)):
        raise ValueError(f"output path {str(path)!r} holds a character the tee muxer reserves")
    return f"[{':'.join(parts)}]{path}"


def gop_frames(fps: float) -> int:
    """Frames between keyframes for `GOP_SECONDS` at `fps` (at least 1)."""
    return max(1, math.ceil(GOP_SECONDS * (fps or 25.0)))


def transcode_command(ffmpeg_bin: str, source: str, probe: Probe, renditions: list[Rendition],
                      outputs: dict[str, Path], mp3: Path | None,
                      playlists: dict[str, Path] | None = None) -> list[str]:
    """The ffmpeg argv encoding every rendition in `renditions` to `outputs[r.name]` and,
    when `mp3` is given (source has audio), the MP3 — from one decode of `source`. With
    `playlists`, each rendition is also written as HLS to `playlists[r.name]` (an
    `EVENT` media playlist with `segment_NNN.ts` beside it, `hls_muxer_options`) by the
    same encode (`tee`).

    Per rendition (PRD + HLS): scale to `output_size`, square pixels, 8-bit yuv420p,
    libx264 with the rendition's preset/CRF/profile/level/tune/x264 options, keyframe every
    `GOP_SECONDS` forced and aligned (`-force_key_frames`, no scene-cut keyframes),
    AAC stereo at the rendition's bitrate/rate, `+faststart`. No audio stream: `-an`.
    Raises ValueError for an output path the tee muxer cannot name.
    """
    inp = source_input(source)
    video = normalise_video(inp["v:0"], probe)
    branches = video.filter_multi_output("split", len(renditions)) if len(renditions) > 1 else None
    has_audio = probe.audio is not None
    gop = gop_frames(probe.video.fps)
    outs = []
    for i, r in enumerate(renditions):
        w, h = output_size(probe.video.display_width, probe.video.display_height, r.height)
        v = (branches[i] if branches is not None else video)
        v = v.filter("scale", w, h).filter("setsar", 1).filter("format", "yuv420p")
        opts: dict[str, object] = {
            "c:v": "libx264", "preset": r.preset, "crf": r.crf, "profile:v": r.profile, "level:v": r.level,
            "g": gop, "keyint_min": gop, "sc_threshold": 0,
            "force_key_frames": f"expr:gte(t,n_forced*{GOP_SECONDS:g})",
            "fps_mode": "passthrough", "enc_time_base": "demux",
        }
        if r.tune:
            opts["tune"] = r.tune
        if r.x264_params:
            opts["x264-params"] = r.x264_params
        streams = [v]
        if has_audio:
            streams.append(inp["a:0"])
            opts.update({"c:a": "aac", "b:a": r.audio_bitrate, "ar": r.audio_sample_rate, "ac": 2})
        else:
            opts["an"] = None
        if playlists is None:
            outs.append(ffmpeg.output(*streams, str(outputs[r.name]), movflags="+faststart", **opts))
        else:
            tee = "|".join([tee_slave({"f": "mp4", "movflags": "+faststart"}, outputs[r.name]),
                            tee_slave(hls_muxer_options(playlists[r.name]), playlists[r.name])])
            outs.append(ffmpeg.output(*streams, tee, f="tee", **opts))
    if mp3 is not None and has_audio:
        outs.append(ffmpeg.output(inp["a:0"], str(mp3), **{"c:a": "libmp3lame", "b:a": MP3_BITRATE,
                                                           "ar": MP3_SAMPLE_RATE, "vn": None}))
    return ffmpeg.merge_outputs(*outs).global_args(*PROGRESS_ARGS).overwrite_output().compile(cmd=ffmpeg_bin)


#: Media seconds VMAF scores every frame of; a longer source is scored on every n-th
#: frame (libvmaf `n_subsample`), so the measurement costs at most about this much.
VMAF_FULL_SECONDS = 60.0


def vmaf_subsample(duration: float) -> int:
    """libvmaf's `n_subsample` for a source of `duration` seconds: 1 (every frame) up to
    `VMAF_FULL_SECONDS`, then one frame in ceil(duration / VMAF_FULL_SECONDS)."""
    return max(1, math.ceil(duration / VMAF_FULL_SECONDS))


def quality_command(ffmpeg_bin: str, rendition: Path, source: str, probe: Probe, width: int, height: int,
                    psnr_ssim: bool = False, threads: int = 2) -> list[str]:
    """ffmpeg argv measuring `rendition` against the source scaled to the rendition's size
    (same normalisation as the encode, both timelines starting at 0): VMAF (libvmaf, its
    built-in model vmaf_v0.6.1, `threads` threads, every `vmaf_subsample` frame) and, with
    `psnr_ssim`, PSNR and SSIM (ffmpeg's filters). Results on stderr (`parse_quality`)."""
    dist = source_input(str(rendition), OUTPUT_DEMUXERS)["v:0"]
    dist = dist.filter("setsar", 1).filter("format", "yuv420p").filter("settb", "AVTB").filter("setpts", "PTS-STARTPTS")
    ref = normalise_video(source_input(source)["v:0"], probe)
    ref = (ref.filter("scale", width, height).filter("setsar", 1).filter("format", "yuv420p").filter("settb", "AVTB")
           .filter("setpts", "PTS-STARTPTS"))
    n = 3 if psnr_ssim else 1
    d = dist.filter_multi_output("split", n) if n > 1 else [dist]
    r = ref.filter_multi_output("split", n) if n > 1 else [ref]
    vmaf = ffmpeg.filter([d[0], r[0]], "libvmaf", n_threads=threads, n_subsample=vmaf_subsample(probe.duration_seconds))
    outs = [ffmpeg.output(vmaf, "-", format="null")]
    if psnr_ssim:
        outs += [ffmpeg.output(ffmpeg.filter([d[1], r[1]], "psnr"), "-", format="null"),
                 ffmpeg.output(ffmpeg.filter([d[2], r[2]], "ssim"), "-", format="null")]
    return (ffmpeg.merge_outputs(*outs).global_args("-hide_banner", "-nostats", "-loglevel", "info")
            .compile(cmd=ffmpeg_bin))


_PSNR = re.compile(r"PSNR .*?average:([0-9.]+|inf)")
_SSIM = re.compile(r"SSIM .*?All:([0-9.]+)")
_VMAF = re.compile(r"VMAF score: ([0-9.]+)")


def parse_quality(stderr: str) -> dict[str, float | None]:
    """`{"vmaf": VMAF 0..100, "psnr_db": average PSNR in dB, "ssim": SSIM All}` from the
    filters' summary lines; None for a figure that was not measured."""
    p, s, v = _PSNR.search(stderr), _SSIM.search(stderr), _VMAF.search(stderr)
    psnr = None if p is None else (float("inf") if p.group(1) == "inf" else float(p.group(1)))
    return {"vmaf": round(float(v.group(1)), 3) if v else None, "psnr_db": psnr,
            "ssim": float(s.group(1)) if s else None}
