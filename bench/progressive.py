"""Time to playable (issue: speed): clips of 10 s, 60 s and 5 min made at run time by
looping real media (Big Buck Bunny 720p, stream copy), each

  (b) encoded bare: the transcoder's own ffmpeg command (one decode, every rendition
      teed to its MP4 and its HLS segments, the MP3), no pipeline around it; the time
      its first 360p segment closes, its wall and CPU seconds;
  (c) submitted to the whole pipeline (quality metrics off) through the REST upload, from
      the moment the upload is answered (the original is in the bucket): -> the first
      playable 360p segment (the stored media playlist names a segment and the
      multivariant playlist lists the variant, polled every 50 ms) and -> `completed`,
      with the CPU seconds of every process; the 10 s clip also through the drop folder
      (landing = the rename into the inbox: its 2 s settle window included);
  (d) the same upload to a pipeline without transcription (10 s and 60 s): the fixed
      cost of the pipeline around the ladder alone;
  (e) the whole pipeline with its defaults, VMAF measured inside the encode (10 s and
      60 s): what that measurement costs the time to playable.

Ratios in the same run: pipeline/bare wall, first playable / job time; CPU seconds per
minute of video. The trace of each job (its facts' times after landing, from the API's
timeline) says where the seconds go. A warm-up job runs first on each stack (model
loads). JSON to bench/results/progressive-*.json.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import m3u8

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from report import write_results  # noqa: E402
from transcode import children_cpu, tree_cpu  # noqa: E402

from contracts import layout  # noqa: E402
from intake.validation import validate  # noqa: E402
from media.encode import transcode_command  # noqa: E402
from media.ladder import encoding_ladder, ladder_for  # noqa: E402
from media.probe import read_media  # noqa: E402
from media.run import ffmpeg_binary  # noqa: E402
from ops.stack import loopback_settings, running_stack  # noqa: E402
from readmodel.db import create_pool  # noqa: E402
from runtime.settings import Settings  # noqa: E402
from runtime.storage import store  # noqa: E402
from tests.media import looped_clip  # noqa: E402

LENGTHS = [int(x) for x in os.environ.get("BENCH_LENGTHS", "10,60,300").split(",")]
S = Settings(_env_file=None)
FF = ffmpeg_binary(S.media.ffmpeg)


def bare(clip: Path, work: Path) -> dict:
    """The transcoder's command alone; when the first 360p segment is listed locally."""
    probe = validate(read_media(str(clip)), clip.stat().st_size, S.intake)
    ladder = encoding_ladder(S.media.encoding_profile)
    names = ladder_for(probe)
    outs = {n: work / f"video_{n}.mp4" for n in names}
    lists = {}
    for n in names:
        (work / n).mkdir()
        lists[n] = work / n / "playlist.m3u8"
    cmd = transcode_command(FF, str(clip), probe, [ladder[n] for n in names], outs,
                            work / "audio.mp3" if probe.audio else None, lists)
    cpu0, t0 = children_cpu(), time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = None
    while proc.poll() is None:
        if first is None and lists["360p"].exists() and m3u8.load(str(lists["360p"])).segments:
            first = time.monotonic() - t0
        time.sleep(0.02)
    wall = time.monotonic() - t0
    assert proc.returncode == 0
    return {"wall_seconds": round(wall, 2), "cpu_seconds": round(children_cpu() - cpu0, 2),
            "first_segment_seconds": round(first or wall, 2)}


def segment_overhead(mp4: Path, work: Path) -> dict:
    """Bytes of one rendition as MPEG-TS segments and as CMAF (fMP4) segments (ffmpeg's
    hls muxer, stream copy of the same MP4, 6 s), against the MP4's own bytes."""
    out = {}
    for kind in ("mpegts", "fmp4"):
        d = work / f"overhead-{kind}"
        d.mkdir()
        ext = "ts" if kind == "mpegts" else "m4s"
        subprocess.run([FF, "-v", "error", "-i", str(mp4), "-c", "copy", "-f", "hls", "-hls_time", "6",
                        "-hls_list_size", "0", "-hls_segment_type", kind, "-hls_segment_filename",
                        str(d / f"seg_%03d.{ext}"), str(d / "p.m3u8")], check=True)
        size = sum(p.stat().st_size for p in d.iterdir() if not p.name.endswith(".m3u8"))
        out[kind] = {"bytes": size, "over_mp4": round(size / mp4.stat().st_size, 4)}
    return out


def playable(client, bucket: str, job_id: str) -> bool:
    """The stored 360p playlist names a segment and the master lists the variant."""
    media = store.get_bytes(client, bucket, layout.media_playlist_key(job_id, "360p"), 1 << 20)
    master = store.get_bytes(client, bucket, layout.master_key(job_id), 1 << 20)
    if media is None or master is None or not m3u8.loads(media.decode()).segments:
        return False
    return any(p.uri.startswith("360p/") for p in m3u8.loads(master.decode()).playlists)


def follow(settings: Settings, pids: list[int], submit, source_key) -> dict:
    """Run `submit()` (returns once the original has landed), then poll until the job is
    playable and until it is `completed`; `source_key()` names its original afterwards."""
    client = store.make_client(settings)

    async def run() -> dict:
        pool = await create_pool(settings.database.url or "")
        cpu0 = tree_cpu(pids)
        job_id = await asyncio.to_thread(submit)
        t0, landed = time.monotonic(), time.time()
        first = None
        try:
            while True:
                row = await pool.fetchrow("SELECT id, status FROM jobs WHERE source_key = $1", source_key(job_id))
                if row is not None and first is None and await asyncio.to_thread(
                        playable, client, settings.s3.bucket, str(row["id"])):
                    first = time.monotonic() - t0
                if row is not None and row["status"] in ("completed", "failed"):
                    wall = time.monotonic() - t0
                    return {"job_id": str(row["id"]), "status": row["status"], "wall_seconds": round(wall, 2),
                            "first_playable_seconds": round(first if first is not None else wall, 2),
                            "cpu_seconds": round(tree_cpu(pids) - cpu0, 2), "landed_at": landed}
                await asyncio.sleep(0.05)
        finally:
            await pool.close()

    return asyncio.run(run())


def api(settings: Settings) -> httpx.Client:
    return httpx.Client(base_url=f"http://{settings.api.host}:{settings.api.port}", timeout=120,
                        headers={"X-API-Key": settings.admin_key_value() or ""})


def by_upload(settings: Settings, pids: list[int], clip: Path) -> dict:
    def submit() -> str:
        with api(settings) as c, clip.open("rb") as f:
            r = c.post("/api/v1/jobs/upload", files={"file": (clip.name, f, "video/webm")})
            r.raise_for_status()
            return str(r.json()["job_id"])

    return follow(settings, pids, submit, lambda _job: f"raw/{clip.name}")


def by_inbox(settings: Settings, pids: list[int], clip: Path, tmp: Path) -> dict:
    staged = tmp / f"staged-{clip.name}"
    shutil.copyfile(clip, staged)

    def submit() -> None:
        os.rename(staged, settings.inbox_dir / clip.name)

    return follow(settings, pids, submit, lambda _job: f"raw/{clip.name}")


def trace(settings: Settings, job_id: str, landed_at: float) -> list[dict]:
    """The job's facts (progress aside), each as seconds after the file landed."""
    with api(settings) as c:
        facts = c.get(f"/api/v1/jobs/{job_id}/timeline").json()["facts"]
    from datetime import datetime

    return [{"after_landing_seconds": round(datetime.fromisoformat(f["at"]).timestamp() - landed_at, 3),
             "type": f["type"], "task": f["task"]} for f in facts]


def measured(label: str, seconds: int, b: dict, c: dict, settings: Settings) -> dict:
    landed = c.pop("landed_at")
    run = {"run": label, "seconds": seconds, "bare": b, "pipeline": c,
           "pipeline_over_bare_wall": round(c["wall_seconds"] / b["wall_seconds"], 2),
           "pipeline_over_bare_cpu": round(c["cpu_seconds"] / b["cpu_seconds"], 2),
           "first_playable_over_job": round(c["first_playable_seconds"] / c["wall_seconds"], 2),
           "cpu_seconds_per_minute": round(c["cpu_seconds"] / (seconds / 60), 1),
           "bare_cpu_seconds_per_minute": round(b["cpu_seconds"] / (seconds / 60), 1),
           "trace": trace(settings, c["job_id"], landed)}
    print({k: v for k, v in run.items() if k != "trace"}, flush=True)
    for f in run["trace"]:
        print(f"   +{f['after_landing_seconds']:7.3f} s  {f['type']} {f['task'] or ''}")
    return run


def stack_runs(tmp: Path, label: str, env: dict[str, str], lengths: list[int], clips: dict[int, Path],
               bares: dict[int, dict], inbox: bool) -> list[dict]:
    base = loopback_settings(tmp / f"data-{label}")
    runs = []
    with running_stack(base, service_logs=tmp / f"logs-{label}", extra_env={"TFLOW_QUALITY_METRICS": "false", **env}
                       ) as (settings, sup, stack):
        pids = [p.pid for p in sup.procs.values()] + [p.pid for p in stack.procs.values()]
        deadline = time.monotonic() + 60
        while True:  # the API answers once it is up
            try:
                with api(settings) as c:
                    if c.get("/api/v1/jobs?limit=1").status_code == 200:
                        break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.2)
        warm = looped_clip(tmp / f"warm-{label}.webm", 4)
        by_upload(settings, pids, warm)  # model loads, first connections
        for seconds in lengths:
            runs.append(measured(f"{label}/upload", seconds, bares[seconds], by_upload(settings, pids, clips[seconds]),
                                 settings))
        if inbox:
            seconds = lengths[0]
            again = tmp / f"inbox-{clips[seconds].name}"
            looped_clip(again, seconds + 0.5)  # other content: another job
            runs.append(measured(f"{label}/inbox", seconds, bares[seconds], by_inbox(settings, pids, again, tmp),
                                 settings))
    return runs


def main() -> None:
    res: dict = {"cpus": os.cpu_count(), "encoding_profile": S.media.encoding_profile, "runs": []}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        clips = {n: looped_clip(tmp / f"bbb-{n}s.webm", n) for n in LENGTHS}
        bares = {}
        for n in LENGTHS:
            work = tmp / f"bare-{n}"
            work.mkdir()
            bares[n] = bare(clips[n], work)
            print("bare", n, bares[n], flush=True)
            if n == 60:
                res["segment_overhead_720p_60s"] = segment_overhead(work / "video_720p.mp4", work)
                print("TS vs CMAF bytes", res["segment_overhead_720p_60s"], flush=True)
        res["runs"] += stack_runs(tmp, "whole", {}, LENGTHS, clips, bares, inbox=True)
        res["runs"] += stack_runs(tmp, "ladder", {"TFLOW_TRANSCRIPTION": "false"}, [n for n in LENGTHS if n <= 60],
                                  clips, bares, inbox=False)
        # the defaults: VMAF measured inside the encode, which shares its cores
        res["runs"] += stack_runs(tmp, "quality", {"TFLOW_QUALITY_METRICS": "true"}, [n for n in LENGTHS if n <= 60],
                                  clips, bares, inbox=False)
    write_results("progressive", res)


if __name__ == "__main__":
    main()
