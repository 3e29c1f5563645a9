"""Disaster recovery, measured (issue 29): the drill of docs/runbooks/disaster-recovery.md
on a `tflow up` as an operator runs it, for 10 and 100 jobs (BENCH_RECOVERY_JOBS="10,100").

Per job count, on a fresh `./data`: N jobs from a real clip (../shared/media/valid, each
copy a new job; transcription off), then `tflow backup` (full), a second objects
snapshot with nothing changed (the incremental cost), `tflow backup --verify`; then
`tflow stop`, `./data` moved away, and the clock starts: `tflow restore`, `tflow up`, until
the API answers (`tflow wait`) and until it lists every job. Every job document must equal
the one before (URLs aside). Copies of one clip make equal outputs, which the repository
stores once (`blobs_stored`). The ratio of the 100-job figures to the 10-job ones comes
from the same run. Prints the figures and writes JSON to bench/results/recovery-*.json.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from report import write_results  # noqa: E402

from ops.recovery import repository  # noqa: E402
from tests.support.operator import operator_env, without_urls  # noqa: E402

CLIP = ROOT.parent / "shared" / "media" / "valid" / "h264_1080x720_aac.flv"
COUNTS = [int(n) for n in os.environ.get("BENCH_RECOVERY_JOBS", "10,100").split(",")]


def timed(work: Path, env: dict[str, str], script: str, timeout: float = 1800) -> float:
    """Run `script` in `work`; its seconds. Raises RuntimeError with its output when it fails."""
    started = time.monotonic()
    done = timed(work, env, script, timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{script!r} exited {done.returncode}: {done.stdout[-1000:]} {done.stderr[-2000:]}")
    return round(time.monotonic() - started, 2)


def documents(api: httpx.Client) -> dict[str, object]:
    jobs: list[dict] = []
    while True:
        page = api.get("/api/v1/jobs", params={"limit": 100, "offset": len(jobs)}).json()
        jobs += page["jobs"]
        if not page["jobs"] or len(jobs) >= page["total"]:
            break
    return {j["job_id"]: without_urls(api.get(f"/api/v1/jobs/{j['job_id']}").json()) for j in jobs}


def drill(n: int) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix=f"tflow-recovery-{n}-"))
    env = operator_env(work)
    url = env["API"]
    (work / "data" / "logs").mkdir(parents=True)
    try:
        timed(work, env, "nohup tflow up >> data/logs/up.log 2>&1 &\ntflow wait --timeout 180")
        key = (work / "data" / "admin.key").read_text().strip()
        started = time.monotonic()
        for i in range(n):
            shutil.copy(CLIP, work / "data" / "inbox" / f"clip-{i:03d}{CLIP.suffix}")
        with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=30) as api:
            while True:
                stats = api.get("/api/v1/stats").json()
                if stats["failed"]:
                    raise RuntimeError(f"{stats['failed']} of the {n} jobs failed; see {work}/data/logs/up.log")
                listed = documents(api) if stats["completed"] + stats["failed"] >= n else {}
                if len(listed) >= n and all(d["status"] == "completed" for d in listed.values()):  # type: ignore[index]
                    break
                if time.monotonic() - started > 1800:
                    raise RuntimeError(f"{n} jobs not completed within 30 min")
                time.sleep(2)
            jobs_s = round(time.monotonic() - started, 1)
            before = listed
        backup_s = timed(work, env, 'tflow backup "$BACKUPS"')
        incremental_s = timed(work, env, 'tflow backup "$BACKUPS" --parts objects')
        verify_s = timed(work, env, 'tflow backup "$BACKUPS" --verify > verify.json\n'
                                    'grep -q \'"ok": true\' verify.json')
        timed(work, env, 'tflow stop; mv data data.lost')
        started = time.monotonic()
        restore_s = timed(work, env, 'tflow restore "$BACKUPS"')
        timed(work, env, "nohup tflow up >> data/logs/up.log 2>&1 &\ntflow wait --timeout 180")
        api_s = round(time.monotonic() - started, 2)
        with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=30) as api:
            after = documents(api)
        listed_s = round(time.monotonic() - started, 2)
        same = after == before
        repo = work / "backups"
        counts = repository.snapshots(repo)[-1].manifest["objects"]
        blobs = list((repo / "blobs").glob("*/*"))
        return {"jobs": n, "jobs_completed_s": jobs_s, "objects": counts["objects"], "object_bytes": counts["bytes"],
                "blobs_stored": len(blobs), "blob_bytes": sum(p.stat().st_size for p in blobs),
                "backup_full_s": backup_s, "backup_incremental_unchanged_s": incremental_s, "verify_s": verify_s,
                "restore_command_s": restore_s, "restore_to_api_answering_s": api_s,
                "restore_to_every_job_listed_s": listed_s, "documents_equal": same}
    finally:
        subprocess.run(["bash", "-c", "tflow stop --timeout 30 || true"], cwd=work, env=env, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    if not CLIP.exists():
        sys.exit(f"real media not found at {CLIP} (../shared/media beside the repo)")
    runs = [drill(n) for n in COUNTS]
    results: dict[str, object] = {"clip": CLIP.name, "runs": runs}
    if len(runs) >= 2:
        a, b = runs[0], runs[-1]
        results[f"ratio_{b['jobs']}_to_{a['jobs']}"] = {
            k: round(b[k] / a[k], 2) for k in ("backup_full_s", "verify_s", "restore_command_s",
                                               "restore_to_api_answering_s") if a[k]}  # type: ignore[operator]
    write_results("recovery", results)


if __name__ == "__main__":
    main()
