"""Transcode benchmark on one real >= 720p clip, in one run (issue: media workers):

  (a) the PRD's command sequence run naively: separate ffmpeg decodes for 360p, 720p
      and the MP3, then an HLS re-mux per rendition;
  (b) bare ffmpeg doing this project's ladder (one decode, `split`, every rendition
      and the MP3) plus the HLS re-mux, with no pipeline around it;
  (c) the full pipeline: inbox drop -> `completed` (transcoder, finalizer,
      thumbnailer, PSNR/SSIM, uploads, facts, projection), and (c') the same with
      quality metrics off.

Wall seconds and CPU seconds (user + system, children included) for each; ratios c/b
and c/a. JSON to bench/results/. Clip: BENCH_CLIP (default the 30 s 720p WebM).
"""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from report import write_results  # noqa: E402

from intake.validation import validate  # noqa: E402
from media.encode import transcode_command  # noqa: E402
from media.ladder import encoding_ladder, ladder_for  # noqa: E402
from media.probe import read_media  # noqa: E402
from media.run import ffmpeg_binary  # noqa: E402
from ops.stack import loopback_settings, running_stack  # noqa: E402
from readmodel.db import create_pool  # noqa: E402
from runtime.settings import Settings  # noqa: E402

CLIP = Path(os.environ.get("BENCH_CLIP", ROOT.parent / "shared/media/valid/bbb_1280x720_30s_vp8_vorbis.webm"))
S = Settings(_env_file=None)
FF = ffmpeg_binary(S.media.ffmpeg)


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmds: list[list[str]]) -> dict:
    cpu0, t0 = children_cpu(), time.monotonic()
    for cmd in cmds:
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return {"wall_seconds": round(time.monotonic() - t0, 2), "cpu_seconds": round(children_cpu() - cpu0, 2)}


def naive_prd(work: Path, renditions: list[str], audio: bool) -> dict:
    """The PRD's commands as written: one ffmpeg (one decode) per output, then HLS."""
    cmds = []
    prd = {"360p": ("23", "main", "3.1", "96k", "44100"), "720p": ("22", "high", "4.0", "128k", "48000")}
    for r in renditions:
        crf, prof, lvl, ab, ar = prd[r]
        cmds.append([FF, "-y", "-v", "error", "-i", str(CLIP), "-vf", f"scale=-2:{r[:-1]}", "-c:v", "libx264",
                     "-preset", "medium", "-crf", crf, "-profile:v", prof, "-level", lvl, "-pix_fmt", "yuv420p",
                     "-c:a", "aac", "-b:a", ab, "-ar", ar, "-movflags", "+faststart", str(work / f"{r}.mp4")])
    if audio:
        cmds.append([FF, "-y", "-v", "error", "-i", str(CLIP), "-vn", "-c:a", "libmp3lame", "-b:a", "192k",
                     "-ar", "48000", str(work / "audio.mp3")])
    for r in renditions:
        (work / f"hls_{r}").mkdir()
        cmds.append([FF, "-y", "-v", "error", "-i", str(work / f"{r}.mp4"), "-c", "copy", "-f", "hls",
                     "-hls_time", "10", "-hls_list_size", "0", "-hls_segment_filename",
                     str(work / f"hls_{r}/segment_%03d.ts"), str(work / f"hls_{r}/playlist.m3u8")])
    return timed(cmds)


def bare_ladder(work: Path, probe, renditions: list[str]) -> dict:
    """The transcoder's one command: every rendition teed to its MP4 and its HLS, the MP3."""
    outs = {r: work / f"video_{r}.mp4" for r in renditions}
    lists = {}
    for r in renditions:
        (work / f"seg_{r}").mkdir()
        lists[r] = work / f"seg_{r}" / "playlist.m3u8"
    ladder = encoding_ladder(S.media.encoding_profile)
    return timed([transcode_command(FF, str(CLIP), probe, [ladder[r] for r in renditions], outs,
                                    work / "audio.mp3" if probe.audio else None, lists)])


def tree_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.NoSuchProcess:
            pass
    return total


def pipeline(tmp: Path, label: str, extra_env: dict[str, str]) -> dict:
    base = loopback_settings(tmp / f"data-{label}")
    with running_stack(base, service_logs=tmp / f"logs-{label}", extra_env=extra_env) as (settings, sup, stack):
        time.sleep(2.0)
        pids = [p.pid for p in sup.procs.values()] + [p.pid for p in stack.procs.values()]
        staged = tmp / CLIP.name
        shutil.copyfile(CLIP, staged)
        cpu0, t0 = tree_cpu(pids), time.monotonic()
        os.rename(staged, settings.inbox_dir / CLIP.name)

        async def wait() -> str:
            pool = await create_pool(settings.database.url or "")
            try:
                while True:
                    st = await pool.fetchval("SELECT status FROM jobs WHERE source_key = $1", f"raw/{CLIP.name}")
                    if st in ("completed", "failed"):
                        return st
                    await asyncio.sleep(0.05)
            finally:
                await pool.close()

        status = asyncio.run(wait())
        wall = time.monotonic() - t0
        # services reap ffmpeg before publishing, so its CPU is in children_* already
        return {"status": status, "wall_seconds": round(wall, 2), "cpu_seconds": round(tree_cpu(pids) - cpu0, 2)}


def main() -> None:
    probe = validate(read_media(str(CLIP)), CLIP.stat().st_size, S.intake)
    renditions = ladder_for(probe)
    res: dict = {"clip": CLIP.name, "duration_seconds": probe.duration_seconds, "renditions": renditions,
                 "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for label, fn in (("a_naive_prd", lambda w: naive_prd(w, renditions, probe.audio is not None)),
                          ("b_bare_ladder", lambda w: bare_ladder(w, probe, renditions))):
            w = tmp / label
            w.mkdir()
            res[label] = fn(w)
            print(label, res[label], flush=True)
        res["c_pipeline"] = pipeline(tmp, "c", {})
        print("c_pipeline", res["c_pipeline"], flush=True)
        res["c_pipeline_no_quality"] = pipeline(tmp, "c2", {"TFLOW_QUALITY_METRICS": "false"})
        print("c_pipeline_no_quality", res["c_pipeline_no_quality"], flush=True)
    a, b = res["a_naive_prd"], res["b_bare_ladder"]
    for c_label in ("c_pipeline", "c_pipeline_no_quality"):
        c = res[c_label]
        res[f"ratios_{c_label}"] = {
            "wall_c_over_b": round(c["wall_seconds"] / b["wall_seconds"], 2),
            "wall_c_over_a": round(c["wall_seconds"] / a["wall_seconds"], 2),
            "cpu_c_over_b": round(c["cpu_seconds"] / b["cpu_seconds"], 2),
            "cpu_c_over_a": round(c["cpu_seconds"] / a["cpu_seconds"], 2),
        }
    res["ratios_b_over_a"] = {"wall": round(b["wall_seconds"] / a["wall_seconds"], 2),
                              "cpu": round(b["cpu_seconds"] / a["cpu_seconds"], 2)}
    write_results("transcode", res)


if __name__ == "__main__":
    main()
