"""Throughput: a mixed batch of real clips dropped at once into the whole embedded stack,
against the same clips' bare ladder run one after another, in the same run.

  (a) bare ladder: for each clip in turn, the stack's ffmpeg running the ladder alone
      (one decode, every rendition of `ladder_for` at the default profile, AAC, the MP3;
      MP4 outputs only: no HLS, no quality, no thumbnails, no transcript);
  (b) the stack idle: CPU seconds of every process (servers, services, their children)
      over `BENCH_IDLE_SECONDS` with nothing to do, as % of one core;
  (c) the batch: every clip renamed into the inbox at once (`make run`'s path), until
      every job is `completed` or `failed`: wall seconds, CPU seconds of every process
      tree of the stack (ffmpeg children included), and per stage: the transcoder's tree
      (ladder encode + its quality measurement), the thumbnailer's, the transcriber's
      (Whisper + its audio decode), the other services' and the servers' (runtime).
      Every job must have its transcript (when it has audio), five thumbnails and a VMAF
      per rendition.
  (d) quality measurement alone, per clip: the ladder with VMAF measured inside the
      encode (`transcode_command(..., quality=...)`) at the default subsampling and at
      every frame, against the bare ladder: its CPU cost, and the subsampled VMAF's error
      against full VMAF.

Ratios c/a (CPU and wall); GB/day and media-hours/day of this machine at the batch's
rate, and for the PRD's 4-core/8-thread host scaled by cores. Prints, writes JSON to
bench/results/. `BENCH_CLIPS` (comma-separated names of ../shared/media/valid) picks the
batch; `BENCH_ENV` (k=v,k=v) adds settings to the stack (to measure an alternative).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
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
from media.encode import read_quality, transcode_command  # noqa: E402
from media.ladder import encoding_ladder, ladder_for  # noqa: E402
from media.probe import read_media  # noqa: E402
from media.run import ffmpeg_binary  # noqa: E402
from ops.stack import loopback_settings, running_stack  # noqa: E402
from readmodel.db import create_pool  # noqa: E402
from runtime.settings import Settings  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media" / "valid"
S = Settings(_env_file=None)
FF = ffmpeg_binary(S.media.ffmpeg)
IDLE_SECONDS = float(os.environ.get("BENCH_IDLE_SECONDS", "60"))
#: The PRD's worker host: 4 cores / 8 threads (PRD §hardware).
PRD_CORES = 4
STAGES = {"transcoder": "ladder encode + quality", "thumbnailer": "thumbnails", "transcriber": "Whisper"}


def clips() -> list[Path]:
    names = [n for n in os.environ.get("BENCH_CLIPS", "").split(",") if n]
    files = [MEDIA / n for n in names] if names else sorted(
        p for p in MEDIA.iterdir() if p.suffix not in (".vtt", ".srt"))
    if not files:
        raise SystemExit(f"no clips in {MEDIA}")
    return files


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def probe_of(path: Path):
    return validate(read_media(str(path)), path.stat().st_size, S.intake)


def ladder_run(path: Path, work: Path, quality: dict | None = None) -> dict:
    """One clip's ladder (MP4s + MP3) with the stack's ffmpeg; with `quality`, VMAF
    measured inside the same encode. Wall and CPU seconds, and the VMAF figures."""
    probe = probe_of(path)
    ladder = encoding_ladder(S.media.encoding_profile)
    renditions = [ladder[r] for r in ladder_for(probe)]
    outs = {r.name: work / f"{path.stem}_{r.name}.mp4" for r in renditions}
    mp3 = work / f"{path.stem}.mp3" if probe.audio else None
    kwargs = {} if quality is None else {"quality": {r.name: work / f"{path.stem}_{r.name}.vmaf.json"
                                                      for r in renditions}, **quality}
    cmd = transcode_command(FF, str(path), probe, renditions, outs, mp3, **kwargs)
    cpu0, t0 = children_cpu(), time.monotonic()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = {"wall_seconds": time.monotonic() - t0, "cpu_seconds": children_cpu() - cpu0,
           "media_seconds": probe.duration_seconds, "bytes": path.stat().st_size}
    if quality is not None:
        out["vmaf"] = {r.name: read_quality(kwargs["quality"][r.name])["vmaf"] for r in renditions}
    return out


def sequential(files: list[Path], tmp: Path, label: str, quality: dict | None = None) -> dict:
    work = tmp / label
    work.mkdir()
    per = {p.name: ladder_run(p, work, quality) for p in files}
    return {"wall_seconds": round(sum(r["wall_seconds"] for r in per.values()), 2),
            "cpu_seconds": round(sum(r["cpu_seconds"] for r in per.values()), 2),
            "per_clip": {n: {k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}
                         for n, r in per.items()}}


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of `pid` and every live descendant, with the children
    they have reaped (so an ffmpeg that ran and exited is counted once, in its parent)."""
    try:
        procs = [psutil.Process(pid)]
        procs += procs[0].children(recursive=True)
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.NoSuchProcess:
            pass
    return total


def snapshot(roots: dict[str, int]) -> dict[str, float]:
    return {name: tree_cpu(pid) for name, pid in roots.items()}


def delta(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    return {k: round(b[k] - a[k], 2) for k in a}


def stages(cpu: dict[str, float]) -> dict[str, float]:
    """Per-process CPU grouped into stages: the media services by name, the rest as runtime."""
    out = {STAGES[k]: v for k, v in cpu.items() if k in STAGES}
    out["runtime: other services"] = round(sum(v for k, v in cpu.items()
                                                if k not in STAGES and not k.startswith("server:")), 2)
    out["runtime: servers"] = round(sum(v for k, v in cpu.items() if k.startswith("server:")), 2)
    return out


async def wait_all(settings: Settings, keys: list[str], timeout: float) -> dict[str, str]:
    pool = await create_pool(settings.database.url or "")
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = await pool.fetch("SELECT source_key, status FROM jobs WHERE source_key = ANY($1)", keys)
            done = {r["source_key"]: r["status"] for r in rows if r["status"] in ("completed", "failed")}
            if len(done) == len(keys):
                return done
            await asyncio.sleep(0.25)
        raise TimeoutError("the batch did not finish")
    finally:
        await pool.close()


async def outputs_check(settings: Settings, keys: list[str]) -> dict:
    """What each job produced: a transcript when it has audio, thumbnails, VMAF per
    rendition; and the wall seconds the facts give each task kind."""
    pool = await create_pool(settings.database.url or "")
    try:
        rows = await pool.fetch(
            "SELECT j.source_key, j.audio_codec, t.name, t.kind, t.status, t.details, t.processing_seconds "
            "FROM jobs j JOIN tasks t ON t.job_id = j.id WHERE j.source_key = ANY($1)", keys)
    finally:
        await pool.close()
    missing, task_seconds = [], {}
    by_job: dict[str, list] = {}
    for r in rows:
        by_job.setdefault(r["source_key"], []).append(r)
        task_seconds[r["kind"]] = round(task_seconds.get(r["kind"], 0.0) + (r["processing_seconds"] or 0.0), 2)
    for key, tasks in by_job.items():
        names = {t["name"]: t for t in tasks}
        if "thumbnails" not in names or names["thumbnails"]["status"] != "completed":
            missing.append(f"{key}: thumbnails")
        if tasks[0]["audio_codec"] and names.get("transcription", {}).get("status") != "completed":
            missing.append(f"{key}: transcript")
        for t in tasks:
            if t["name"].startswith("video_"):
                details = json.loads(t["details"]) if isinstance(t["details"], str) else t["details"]
                if (details or {}).get("vmaf") is None:
                    missing.append(f"{key}: {t['name']} vmaf")
    return {"missing": missing, "task_processing_seconds_by_kind": task_seconds}


def batch(files: list[Path], tmp: Path, extra_env: dict[str, str]) -> dict:
    base = loopback_settings(tmp / "data")
    with running_stack(base, service_logs=tmp / "logs", extra_env=extra_env) as (settings, sup, stack):
        roots = {name: p.pid for name, p in sup.procs.items()}
        roots.update({f"server:{name}": p.pid for name, p in stack.procs.items()})
        time.sleep(10.0)  # past start-up
        s0 = snapshot(roots)
        time.sleep(IDLE_SECONDS)
        idle = delta(s0, snapshot(roots))
        staged = tmp / "staged"
        staged.mkdir()
        names = [f"{i:02d}-{p.name}" for i, p in enumerate(files)]
        for name, p in zip(names, files, strict=True):
            shutil.copyfile(p, staged / name)
        s1, t0 = snapshot(roots), time.monotonic()
        for name in names:
            os.rename(staged / name, settings.inbox_dir / name)
        keys = [f"raw/{n}" for n in names]
        statuses = asyncio.run(wait_all(settings, keys, 3600))
        wall = time.monotonic() - t0
        cpu = delta(s1, snapshot(roots))
        check = asyncio.run(outputs_check(settings, keys))
    total_idle = sum(idle.values())
    return {
        "idle": {"seconds": IDLE_SECONDS, "cpu_seconds": round(total_idle, 2),
                 "percent_of_one_core": round(100 * total_idle / IDLE_SECONDS, 2), "per_process": idle},
        "wall_seconds": round(wall, 2), "cpu_seconds": round(sum(cpu.values()), 2),
        "per_process_cpu_seconds": cpu, "per_stage_cpu_seconds": stages(cpu),
        "statuses": statuses, **check,
    }


def main() -> None:
    files = clips()
    extra = dict(kv.split("=", 1) for kv in os.environ.get("BENCH_ENV", "").split(",") if kv)
    res: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                 "clips": [p.name for p in files], "extra_env": extra}
    media_seconds = sum(probe_of(p).duration_seconds for p in files)
    size = sum(p.stat().st_size for p in files)
    res.update({"media_seconds": round(media_seconds, 2), "bytes": size})
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        res["a_bare_ladder"] = sequential(files, tmp, "bare")
        print("a_bare_ladder", res["a_bare_ladder"]["wall_seconds"], res["a_bare_ladder"]["cpu_seconds"], flush=True)
        if os.environ.get("BENCH_QUALITY", "1") == "1":
            res["d_quality"] = quality_figures(files, tmp, res["a_bare_ladder"])
        res["c_batch"] = batch(files, tmp / "stack", extra)
    a, c = res["a_bare_ladder"], res["c_batch"]
    res["ratios_batch_over_bare"] = {"cpu": round(c["cpu_seconds"] / a["cpu_seconds"], 3),
                                     "wall": round(c["wall_seconds"] / a["wall_seconds"], 3)}
    per_day = 86400 / c["wall_seconds"]
    res["capacity_this_machine"] = {"gb_per_day": round(size * per_day / 1e9, 2),
                                    "media_hours_per_day": round(media_seconds * per_day / 3600, 1)}
    scale = PRD_CORES / (os.cpu_count() or 1)
    res["capacity_prd_host_4c8t_scaled_by_cores"] = {
        k: round(v * scale, 1) for k, v in res["capacity_this_machine"].items()}
    write_results("throughput", res)


def quality_figures(files: list[Path], tmp: Path, bare: dict) -> dict:
    """VMAF inside the encode at the default subsampling and at every frame: CPU over the
    bare ladder, and the subsampled mean's error against the full one."""
    sub = sequential(files, tmp, "q-sub", {})
    full = sequential(files, tmp, "q-full", {"vmaf_subsample": 1})
    errors = []
    for name, r in sub["per_clip"].items():
        for rendition, v in r["vmaf"].items():
            errors.append(abs(v - full["per_clip"][name]["vmaf"][rendition]))
    return {"subsampled": {"cpu_seconds": sub["cpu_seconds"],
                           "cpu_over_bare": round(sub["cpu_seconds"] / bare["cpu_seconds"], 3),
                           "vmaf": {n: r["vmaf"] for n, r in sub["per_clip"].items()}},
            "full": {"cpu_seconds": full["cpu_seconds"],
                     "cpu_over_bare": round(full["cpu_seconds"] / bare["cpu_seconds"], 3),
                     "vmaf": {n: r["vmaf"] for n, r in full["per_clip"].items()}},
            "abs_error_vs_full": {"mean": round(sum(errors) / len(errors), 3), "max": round(max(errors), 3)}}


if __name__ == "__main__":
    main()
