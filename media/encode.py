"""Encode and quality-measurement command lines, built with ffmpeg-python (pure functions).

One ffmpeg process decodes the source once and encodes every rendition and the MP3
(`split` in the filter graph): on this 2-core machine that beat one process per
rendition (see bench/transcode.py and the README). Each rendition's encoded streams go
through the `tee` muxer to its faststart MP4 and to its HLS segments at once, so the
segments exist while the encode runs (progressive HLS) and no second pass re-muxes them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import ffmpeg

from contracts import Probe
from media.filters import (
    filter_text,
    normalise_filters,
    normalise_video,
    option_list,
    source_input,
)
from media.hls import MPEGTS_CLOCK_HZ, hls_muxer_options
from media.ladder import GOP_SECONDS, MP3_BITRATE, MP3_SAMPLE_RATE, Rendition, output_size
from media.run import PROGRESS_ARGS

#: Characters the tee muxer's slave syntax gives a meaning to (`[opts]path|...`).
_TEE_SPECIAL = set("|[]:\\'=")


def tee_slave(options: dict[str, object], path: Path) -> str:
    """One slave of ffmpeg's `tee` muxer: `[k=v:k=v]path` (FFmpeg formats docs, "tee").
    Raises ValueError when a value or the path holds a character of the slave syntax."""
    opts = option_list(options, _TEE_SPECIAL, "tee")
    if _TEE_SPECIAL & set(str(path)):
        raise ValueError(f"output path {str(path)!r} holds a character the tee muxer reserves")
    return f"[{opts}]{path}"


def gop_frames(fps: float) -> int:
    """Frames between keyframes for `GOP_SECONDS` at `fps` (at least 1)."""
    return max(1, math.ceil(GOP_SECONDS * (fps or 25.0)))


def transcode_command(ffmpeg_bin: str, source: str, probe: Probe, renditions: list[Rendition],
                      outputs: dict[str, Path], mp3: Path | None,
                      playlists: dict[str, Path] | None = None, quality: dict[str, Path] | None = None,
                      vmaf_subsample: int | None = None, psnr_ssim: bool = False) -> list[str]:
    """The ffmpeg argv encoding every rendition in `renditions` to `outputs[r.name]` and,
    when `mp3` is given (source has audio), the MP3 — from one decode of `source`. With
    `playlists`, each rendition is also written as HLS to `playlists[r.name]` (an
    `EVENT` media playlist with `segment_NNN.ts` beside it, `hls_muxer_options`) by the
    same encode (`tee`).

    Per rendition (PRD + HLS): scale to `output_size`, square pixels, 8-bit yuv420p,
    libx264 with the rendition's preset/CRF/profile/level/tune/x264 options, keyframe every
    `GOP_SECONDS` forced and aligned (`-force_key_frames`, no scene-cut keyframes), the
    source's own frame times kept (variable frame rate) on the 90 kHz MPEG-TS clock, a frame
    whose time equals its predecessor's on that clock dropped (`-fps_mode vfr`: a burst of
    frames microseconds apart cannot make a muxer refuse non-increasing timestamps),
    AAC stereo at the rendition's bitrate/rate, `+faststart`. No audio stream: `-an`.

    With `quality` (rendition name -> libvmaf JSON log path), the same process measures
    those renditions (`quality_args`): no second decode of the source.
    Raises ValueError for an output path the tee muxer or a filtergraph cannot name.
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
            "fps_mode": "vfr", "enc_time_base": f"1/{MPEGTS_CLOCK_HZ}",
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
    cmd: list[str] = ffmpeg.merge_outputs(*outs).global_args(*PROGRESS_ARGS).overwrite_output().compile(cmd=ffmpeg_bin)
    if quality:
        v = probe.video
        measured = [(i, output_size(v.display_width, v.display_height, r.height), quality[r.name])
                    for i, r in enumerate(renditions) if r.name in quality]
        step = vmaf_subsample or quality_subsample(v.fps, probe.duration_seconds)
        cmd += quality_args(probe, measured, step, psnr_ssim)
    return cmd


#: Frames between two VMAF-scored frames (libvmaf `n_subsample`) by default: VMAF on every
#: frame cost more CPU than the encode it measures (1.4x the bare ladder's CPU on the 30 s
#: WebM); one frame in 11 costs 0.25x, decoding the renditions most of it, and is within
#: about 0.1 of the full score on the real clips (bench/throughput.py, README "Throughput").
VMAF_SUBSAMPLE = 11


#: Frames VMAF scores at least: a short clip is scored more densely (at 3 frames of a
#: 2.4 s phone clip the mean was 2.7 off the full score; at 30 the batch's quality cost
#: rose from 1.28x to 1.44x the bare ladder's CPU, so 15).
MIN_SCORED_FRAMES = 15


def quality_subsample(fps: float, duration: float | None = None, target: int = VMAF_SUBSAMPLE) -> int:
    """libvmaf's `n_subsample` for a source at `fps` lasting `duration` seconds: `target`,
    lowered so at least `MIN_SCORED_FRAMES` frames are scored, then raised to the smallest
    step sharing no factor with the keyframe interval (`gop_frames`), so the scored frames
    do not fall on the keyframes only (forced IDRs score higher than the frames between)."""
    if duration is not None:
        target = min(target, int(duration * (fps or 25.0)) // MIN_SCORED_FRAMES)
    gop, step = gop_frames(fps), max(1, target)
    while step > 1 and math.gcd(step, gop) != 1:
        step += 1
    return step


#: libvmaf's extra features for PSNR (luma, dB) and SSIM (libvmaf docs, "features").
_PSNR_SSIM = "'name=psnr|name=float_ssim'"


def quality_args(probe: Probe, measured: list[tuple[int, tuple[int, int], Path]], subsample: int,
                 psnr_ssim: bool = False) -> list[str]:
    """ffmpeg arguments that measure renditions inside their own encode (appended to
    `transcode_command`'s argv): for each `(output index, (width, height), log path)` of a
    rendition, a loopback decoder of that output's video (`-dec i:0`, FFmpeg >= 7.0)
    against the source's own decoded frames (`[0:v:0]`, the decode the encode already
    does), normalised and scaled the way the encode is, both timelines starting at 0,
    into libvmaf (model vmaf_v0.6.1, every `subsample`-th frame scored, with `psnr_ssim`
    also PSNR and SSIM), its JSON log at the path (`read_quality`); its frames go to a
    null output. Raises ValueError for a log path a filtergraph cannot name."""
    if not measured:
        return []
    chains, args = [], []
    # Frames n-1, n, n+1 around every `subsample`-th n (and 0, 1): libvmaf scores each
    # third of them (the centres) and its motion feature (temporal: the previous and the
    # next frame) still sees true neighbours, so the scores equal full-rate n_subsample
    # while the scaling, copies and motion run on 3 frames in `subsample`.
    picks = f"select='lt(mod(n+1\\,{subsample})\\,3)'" if subsample > 3 else None
    every = 3 if picks else subsample
    sources = "".join(f"[ref{n}]" for n in range(len(measured)))
    ref = ",".join(([picks] if picks else []) + [filter_text(name, **opts) for name, opts in normalise_filters(probe)]
                   + [filter_text("split", outputs=len(measured))])
    chains.append(f"[0:v:0]{ref}{sources}")
    tail = [filter_text("setsar", r=1), filter_text("format", pix_fmts="yuv420p"), filter_text("settb", expr="AVTB"),
            filter_text("setpts", expr="PTS-STARTPTS")]
    for n, (index, (w, h), log) in enumerate(measured):
        vmaf = filter_text("libvmaf", log_fmt="json", log_path=log, n_threads=1, n_subsample=every)
        if psnr_ssim:
            vmaf += f":feature={_PSNR_SSIM}"
        chains.append(f"[ref{n}]{','.join([filter_text('scale', w=w, h=h)] + tail)}[r{n}]")
        chains.append(f"[dec:{n}]{','.join(([picks] if picks else []) + tail)}[d{n}]")
        chains.append(f"[d{n}][r{n}]{vmaf}[q{n}]")
        args += ["-dec", f"{index}:0"]
    args += ["-filter_complex", ";".join(chains)]
    for n in range(len(measured)):
        args += ["-map", f"[q{n}]", "-f", "null", "-"]
    return args


def read_quality(log: Path) -> dict[str, float | None]:
    """`{"vmaf": mean VMAF 0..100, "psnr_db": mean luma PSNR in dB, "ssim": mean SSIM}`
    from a libvmaf JSON log (`pooled_metrics`); None for a figure not measured. Raises
    OSError / ValueError when the log is missing or not libvmaf's JSON."""
    pooled = json.loads(log.read_text())["pooled_metrics"]

    def mean(name: str, digits: int | None) -> float | None:
        value = pooled.get(name, {}).get("mean")
        return None if value is None else (round(float(value), digits) if digits is not None else float(value))
    return {"vmaf": mean("vmaf", 3), "psnr_db": mean("psnr_y", None), "ssim": mean("float_ssim", None)}
