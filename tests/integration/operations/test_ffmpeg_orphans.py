"""No ffmpeg outlives its worker (reliability finding: after `kill -9` of the transcoder,
its ffmpeg finished the whole encode as an orphan). A worker process runs a long real
encode through `run_ffmpeg`, is killed with SIGKILL, and its ffmpeg must be gone."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import psutil
import pytest

from tests.media import REPO_ROOT, media

pytestmark = pytest.mark.integration

WORKER = textwrap.dedent("""
    import asyncio, sys
    from media.run import ffmpeg_binary, run_ffmpeg
    cmd = [ffmpeg_binary(), "-v", "error", "-nostats", "-progress", "pipe:1", "-y", "-stream_loop", "-1",
           "-i", sys.argv[1], "-t", "120", "-c:v", "libx264", "-preset", "medium", "-f", "mp4", sys.argv[2]]
    asyncio.run(run_ffmpeg(cmd))
""")


def test_a_killed_workers_ffmpeg_dies_with_it(tmp_path):
    ffmpeg = None
    worker = subprocess.Popen([sys.executable, "-c", WORKER, str(media("valid/bbb_1280x720_30s_vp8_vorbis.webm")),
                               str(tmp_path / "out.mp4")], cwd=REPO_ROOT, stdin=subprocess.DEVNULL)
    try:
        parent = psutil.Process(worker.pid)
        for _ in range(200):
            ffmpeg = next((c for c in parent.children() if "ffmpeg" in c.name()), None)
            if ffmpeg is not None and (tmp_path / "out.mp4").exists():
                break
            psutil.wait_procs([parent], timeout=0.05)
        assert ffmpeg is not None, "the worker never started ffmpeg"
        worker.kill()
        worker.wait(10)
        gone, alive = psutil.wait_procs([ffmpeg], timeout=5)
        assert gone and not alive, f"ffmpeg {ffmpeg.pid} outlived its killed worker"
    finally:  # only this test's processes (the session's stack runs beside it)
        for proc in (psutil.Process(worker.pid) if worker.poll() is None else None, ffmpeg):
            if proc is not None and proc.is_running():
                proc.kill()
