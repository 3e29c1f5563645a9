"""Encoding chosen by measurement (issue: speed): the PRD profile (libx264 `medium`, CRF
23 at 360p / 22 at 720p) against faster presets and lower CRFs, on real clips of
different content, each cut to at most `CUT_SECONDS`:

  - Big Buck Bunny (3D animation, VP8 720p), the Popeye cartoon (film grain, HEVC
    1440x1074), the 1080p50 camera clip (H.264), the MS-MPEG4 640x360 clip (360p rung).

For every (clip, profile): VMAF (libvmaf, model vmaf_v0.6.1, against the source scaled
to the rendition the same way the encode scales it), kbit/s and the encode's CPU
seconds. The rule (`choose`): the least CPU among profiles whose mean VMAF is within
0.5 of the PRD profile's and that lose no more than 1.0 VMAF on any clip. JSON to
bench/results/encoding-*.json.
"""

from __future__ import annotations

import dataclasses
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import msgspec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from report import write_results  # noqa: E402

from intake.validation import validate  # noqa: E402
from media.encode import read_quality, transcode_command  # noqa: E402
from media.ladder import ENCODING_PROFILES, LADDER, encoding_ladder  # noqa: E402
from media.probe import read_media  # noqa: E402
from media.run import ffmpeg_binary  # noqa: E402
from runtime.settings import Settings  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media" / "valid"
CLIPS = [("bbb_1280x720_30s_vp8_vorbis.webm", "720p"), ("hevc_1440x1074_noaudio_subs.mkv", "720p"),
         ("h264_1920x1080_50fps_pcm.mov", "720p"), ("msmpeg4v2_640x360_noaudio.avi", "360p")]
#: Candidates beside the shipped profiles: (preset, CRF change against the PRD's).
CANDIDATES = [("fast", 0), ("faster", 0), ("faster", -1), ("veryfast", -2), ("veryfast", -3)]
#: Seconds of each clip encoded and measured.
CUT_SECONDS = 6
S = Settings(_env_file=None)
FF = ffmpeg_binary(S.media.ffmpeg)


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def profiles() -> dict[str, dict[str, tuple[str, int]]]:
    """name -> rendition -> (preset, CRF): the shipped profiles and the candidates."""
    out = {name: {r: (p.preset, p.crf) for r, p in encoding_ladder(name).items()} for name in ENCODING_PROFILES}
    for preset, delta in CANDIDATES:
        rungs = {r: (preset, LADDER[r].crf + delta) for r in LADDER}
        if rungs not in out.values():
            out[f"{preset}{delta:+d}"] = rungs
    return out


def measure(source: Path, rendition: str, preset: str, crf: int, work: Path) -> dict:
    probe = validate(read_media(str(source)), source.stat().st_size, S.intake)
    rung = dataclasses.replace(LADDER[rendition], preset=preset, crf=crf)
    out = work / f"{rendition}-{preset}-{crf}.mp4"
    silent = msgspec.structs.replace(probe, audio=None)
    cmd = transcode_command(FF, str(source), silent, [rung], {rendition: out}, None)
    cpu0 = children_cpu()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cpu = children_cpu() - cpu0  # the encode alone; VMAF (every frame) from the same encode run again
    log = work / f"{rendition}-{preset}-{crf}.vmaf.json"
    subprocess.run(transcode_command(FF, str(source), silent, [rung], {rendition: work / "again.mp4"}, None,
                                     quality={rendition: log}, vmaf_subsample=1),
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    from media.probe import describe_output

    info = describe_output(out, "k", "mp4")
    seconds = info.duration_seconds or probe.duration_seconds
    return {"vmaf": read_quality(log)["vmaf"], "kbit_s": round(out.stat().st_size * 8 / seconds / 1000, 1),
            "cpu_seconds": round(cpu, 2)}


def choose(table: dict[str, dict[str, dict]], baseline: str = "prd") -> str:
    """The profile with the least total CPU whose mean VMAF is within 0.5 of `baseline`'s
    and that is never more than 1.0 below it on a clip."""
    base = table[baseline]

    def mean(name: str, field: str) -> float:
        return sum(v[field] for v in table[name].values()) / len(table[name])

    ok = [n for n in table if mean(n, "vmaf") >= mean(baseline, "vmaf") - 0.5
          and all(table[n][c]["vmaf"] >= base[c]["vmaf"] - 1.0 for c in base)]
    return min(ok, key=lambda n: sum(v["cpu_seconds"] for v in table[n].values()))


def main() -> None:
    table: dict[str, dict[str, dict]] = {}
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        cuts = {}
        for name, rendition in CLIPS:
            cut = work / f"cut-{Path(name).stem}.mkv"
            subprocess.run([FF, "-v", "error", "-y", "-i", str(MEDIA / name), "-t", str(CUT_SECONDS), "-map", "0:v:0",
                            "-c", "copy", str(cut)], check=True)
            cuts[name] = (cut, rendition)
        for pname, rungs in profiles().items():
            table[pname] = {}
            for name, (cut, rendition) in cuts.items():
                preset, crf = rungs[rendition]
                table[pname][name] = {"rendition": rendition, "preset": preset, "crf": crf,
                                      **measure(cut, rendition, preset, crf, work)}
                print(pname, name, table[pname][name], flush=True)
    summary = {}
    for pname, rows in table.items():
        n = len(rows)
        summary[pname] = {"mean_vmaf": round(sum(r["vmaf"] for r in rows.values()) / n, 2),
                          "kbit_s_sum": round(sum(r["kbit_s"] for r in rows.values()), 1),
                          "cpu_seconds": round(sum(r["cpu_seconds"] for r in rows.values()), 2)}
        summary[pname]["cpu_over_prd"] = round(summary[pname]["cpu_seconds"] / summary["prd"]["cpu_seconds"], 2)
        summary[pname]["bits_over_prd"] = round(summary[pname]["kbit_s_sum"] / summary["prd"]["kbit_s_sum"], 2)
        print(f"{pname:14s} VMAF {summary[pname]['mean_vmaf']:6.2f}  kbit/s {summary[pname]['kbit_s_sum']:8.1f}  "
              f"CPU-s {summary[pname]['cpu_seconds']:6.2f}  x{summary[pname]['cpu_over_prd']}")
    chosen = choose(table)
    print("chosen by the rule:", chosen)
    write_results("encoding", {"clips": CLIPS, "table": table, "summary": summary, "chosen": chosen})


if __name__ == "__main__":
    main()
