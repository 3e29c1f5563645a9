"""Retry policy and watchdog (reliability findings: retries of 1, 2, 4 s with max_deliver 3
could not ride out a ten-second outage; bad input was retried like an outage; nothing
bounded a hung ffmpeg; a killed worker's temp directory stayed behind)."""

from __future__ import annotations

import asyncio
import errno
import os
import subprocess
import sys
import time

import av
import pytest
from minio.error import S3Error

from media.run import FfmpegError, Stalled, TimeLimitExceeded, UnusableInput, ffmpeg_binary, run_ffmpeg, run_quiet
from runtime.jetstream.retry import RETRY_DELAYS_SECONDS, Permanent, retry_delay
from runtime.settings import Settings
from runtime.storage.space import full_reason, human
from runtime.worker.failures import classify, sentence
from runtime.worker.workdirs import job_workdir, sweep_workdirs


def test_the_schedule_rides_out_minutes_and_is_capped():
    assert [retry_delay(a) for a in range(1, 9)] == [10, 30, 60, 120, 300, 300, 300, 300]
    assert sum(retry_delay(a) for a in range(1, 8)) >= 15 * 60  # 7 retries of max_deliver 8: > 15 min
    assert retry_delay(3, [1, 2]) == 2 and retry_delay(0, [5]) == 5 and retry_delay(4, []) == 0
    assert tuple(Settings(_env_file=None).worker.retry_delays_seconds) == RETRY_DELAYS_SECONDS


@pytest.mark.parametrize("error, blame, code", [
    (Permanent("no ingested fact"), "input", "permanent"),
    (FfmpegError(1, "[mov,mp4] moov atom not found\nInvalid data found when processing input"), "input",
     "ffmpeg_failed"),
    (FfmpegError(234, "Error while decoding stream #0:0: Invalid data found"), "input", "ffmpeg_failed"),
    (FfmpegError(1, "http://127.0.0.1:9/raw/x.mp4: Connection refused"), "machine", "ffmpeg_io"),
    (FfmpegError(8, "Server returned 503 Service Unavailable"), "machine", "ffmpeg_io"),
    (FfmpegError(1, "raw/x.mp4: No such file or directory"), "machine", "ffmpeg_io"),
    # issue 28: a full disk is the machine's, by its own code, wherever it is met
    (FfmpegError(1, "[out#0/mp4 @ 0x55] Error writing trailer: No space left on device"), "machine", "disk_full"),
    (S3Error(None, "XMinioStorageFull", "Storage backend has reached its minimum free drive threshold.",  # type: ignore[arg-type]
             "/videos/x", "r", "h"), "machine", "disk_full"),
    (OSError(errno.EDQUOT, "Disk quota exceeded"), "machine", "disk_full"),
    (RuntimeError("upload failed"), "machine", "RuntimeError"),
    (FfmpegError(-9, "Invalid data found"), "machine", "ffmpeg_killed"),  # out of memory or the watchdog
    (ConnectionRefusedError(111, "refused"), "machine", "unreachable"),
    (OSError(errno.ENOSPC, "No space left on device", "/data/work/x/360p/segment_001.ts"), "machine", "disk_full"),
    (TimeoutError(), "machine", "TimeoutError"),
    (Stalled("stuck"), "machine", "Stalled"),
    (TimeLimitExceeded("too long"), "machine", "TimeLimitExceeded"),
    (UnusableInput("No frame decodes at 2.1 s"), "input", "unusable_input"),
    # issue 27: EINVAL opening a TS segment we wrote was retried for 19 minutes
    (av.ArgumentError(22, "Invalid argument", "/tmp/work/tflow-x/360p/segment_000.ts"), "ours", "internal_error"),
    (av.InvalidDataError(1094995529, "Invalid data found when processing input", "http://127.0.0.1:9/raw/x.mp4"),
     "input", "unreadable_source"),
    (KeyError("rendition"), "ours", "internal_error"),
    (ValueError("an unforeseen refusal"), "machine", "ValueError"),  # not in the table: retried
])
def test_the_failure_table(error, blame, code):
    found = classify(error)
    assert (found.blame, found.code) == (blame, code), found
    assert found.permanent is (blame != "machine")
    assert found.reason[:1].isupper() and found.reason.endswith((".", "…")), found.reason
    assert "/tmp/" not in found.reason and "Errno" not in found.reason and "http://" not in found.reason


def test_reasons_are_whole_sentences_without_ffmpeg_internals():
    stderr = ("[hls @ 0x7fb2602c8780] Application provided invalid, non monotonically increasing dts to muxer in "
              "stream 0: 5 >= 5\n[tee @ 0x55f1526a0c80] Slave muxer #1 failed, aborting.\n[out#0/tee @ 0x55f1] Task "
              "finished with error code: -22 (Invalid argument)\n")
    reason = classify(FfmpegError(234, stderr)).reason
    assert reason == ("FFmpeg cannot process this video: Application provided invalid, non monotonically increasing "
                      "dts to muxer in stream 0: 5 >= 5.")
    long = sentence("word " * 200)
    assert len(long) < 310 and long.endswith("word …")


def test_a_stalled_ffmpeg_is_killed(tmp_path):
    fifo = tmp_path / "never-written"
    os.mkfifo(fifo)  # opening it blocks forever: ffmpeg makes no progress
    cmd = [ffmpeg_binary(), "-hide_banner", "-nostats", "-progress", "pipe:1", "-f", "s16le", "-i", str(fifo),
           "-f", "null", "-"]
    t0 = time.monotonic()
    with pytest.raises(Stalled):
        asyncio.run(run_ffmpeg(cmd, stall_seconds=1.0, time_limit=30))
    assert time.monotonic() - t0 < 10
    assert not _ffmpeg_reading(fifo)


def test_an_overlong_ffmpeg_is_killed_at_its_time_limit(tmp_path):
    cmd = [ffmpeg_binary(), "-hide_banner", "-nostats", "-progress", "pipe:1", "-re", "-f", "lavfi",
           "-i", "testsrc=size=64x64:rate=5:duration=60", "-f", "null", "-"]  # real time: 60 s of work
    progress = []

    async def on_progress(p):
        progress.append(p.position_seconds)

    with pytest.raises(TimeLimitExceeded):
        asyncio.run(run_ffmpeg(cmd, on_progress, 0.2, stall_seconds=30, time_limit=1.5))
    assert progress and max(progress) < 5  # it was moving: a limit, not a stall
    with pytest.raises(TimeLimitExceeded):
        asyncio.run(run_quiet(cmd, time_limit=1.0))


def _ffmpeg_reading(path) -> bool:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return any(str(path) in line and "ffmpeg" in line for line in out.splitlines())


def test_the_directories_of_dead_workers_are_swept(tmp_path):
    settings = Settings(_env_file=None, worker={"work_dir": tmp_path})
    job = "0b9a4a8e-7b7c-5d1e-9f00-3a1b2c3d4e5f"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"tflow-transcoder-{dead.pid}-{job}-abc123"
    (stale / "sub").mkdir(parents=True)
    (stale / "sub" / "partial.mp4").write_bytes(b"x" * 1000)
    alive = tmp_path / f"tflow-finalizer-{os.getppid()}-{job}-def456"  # a live process's: kept
    alive.mkdir()
    other = tmp_path / f"tflow-transcoder-{dead.pid}-another-job-ghi789"
    other.mkdir()
    with job_workdir(settings.worker.work_dir, job, "transcoder") as mine:  # a redelivery of the same job
        assert mine.exists() and not stale.exists() and alive.exists() and other.exists()
        assert mine.name.startswith(f"tflow-transcoder-{os.getpid()}-{job}-")
    assert not mine.exists()
    assert sweep_workdirs(tmp_path) == [other]  # a worker starting up sweeps every dead one
    assert alive.exists()


def test_a_full_disks_reason_names_the_free_space_and_never_a_path(tmp_path):
    reason = full_reason(OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "segment_001.ts")), tmp_path)
    assert reason.startswith("No space left on the work dir (") and " free of " in reason and str(tmp_path) not in reason
    store = full_reason(S3Error(None, "XMinioStorageFull", "full", "/v", "r", "h"), tmp_path)  # type: ignore[arg-type]
    assert store.startswith("The object store is out of space")
    assert human(0) == "0 B" and human(12_345_678) == "12.3 MB" and human(2e12) == "2.0 TB"


def test_any_failure_of_a_task_writing_a_nearly_full_work_dir_is_a_full_disk(tmp_path, monkeypatch):
    from runtime.worker import handler

    worker = handler.JobHandler(Settings(_env_file=None, data_dir=tmp_path, work_dir=tmp_path), None, None)  # type: ignore[arg-type]
    muxer = FfmpegError(1, "[tee @ 0x5] Slave muxer #0 failed: Input/output error")
    monkeypatch.setattr(handler, "free_bytes", lambda _: handler.NEARLY_FULL_BYTES - 1)
    full = asyncio.run(worker._on_full_disk(muxer))
    assert classify(full).code == "disk_full" and full.__cause__ is muxer
    assert asyncio.run(worker._on_full_disk(Permanent("bad input"))).args == ("bad input",)  # never a verdict
    monkeypatch.setattr(handler, "free_bytes", lambda _: handler.NEARLY_FULL_BYTES)
    assert asyncio.run(worker._on_full_disk(muxer)) is muxer
