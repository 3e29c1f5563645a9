"""Running ffmpeg at the edge: `-progress pipe:1` parsing (pure) and an async runner
that reports progress at most once per interval and raises with ffmpeg's own words.
Whose failure an error is, is `runtime.worker.failures`' table."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


def ffmpeg_binary(configured: str | None = None) -> str:
    """`configured` (e.g. `TFLOW_FFMPEG`), else the ffmpeg shipped by the imageio-ffmpeg wheel."""
    if configured:
        return configured
    import imageio_ffmpeg

    exe: str = imageio_ffmpeg.get_ffmpeg_exe()
    return exe


#: ffmpeg global options for machine-read progress and terse errors.
PROGRESS_ARGS = ("-hide_banner", "-nostats", "-loglevel", "error", "-progress", "pipe:1")


class FfmpegError(RuntimeError):
    """ffmpeg exited non-zero; `stderr` holds the tail of what it said."""

    def __init__(self, returncode: int, stderr: str):
        super().__init__(f"ffmpeg exited with {returncode}: {stderr.strip()[-800:]}")
        self.returncode, self.stderr = returncode, stderr


class UnusableInput(Exception):
    """The input has no usable content where the work needs it (no frame decodes at a
    thumbnail position): the input's failure, permanent (`runtime.worker.failures`)."""


@dataclass(frozen=True)
class Progress:
    """One `-progress` block: media position in seconds, speed (x real time), ended."""

    position_seconds: float
    speed: float | None
    done: bool

    def percent(self, duration: float) -> float:
        """Position over `duration` seconds, 0..100 (100 once ended)."""
        if self.done:
            return 100.0
        return max(0.0, min(99.9, 100.0 * self.position_seconds / duration)) if duration > 0 else 0.0

    def eta_seconds(self, duration: float) -> float | None:
        """Seconds left at the current speed, or None when the speed is unknown."""
        if self.done:
            return 0.0
        if not self.speed or self.speed <= 0:
            return None
        return max(0.0, (duration - self.position_seconds) / self.speed)


def parse_progress_block(lines: list[str]) -> Progress:
    """Parse the `key=value` lines of one `-progress` block (ending with `progress=`).

    `out_time_us` (microseconds; older builds misname it `out_time_ms`) gives the
    position; `speed=1.5x` the speed; `progress=end` the end. `N/A` values are None.
    """
    kv = dict(line.strip().split("=", 1) for line in lines if "=" in line)
    us = kv.get("out_time_us") or kv.get("out_time_ms") or "N/A"
    position = int(us) / 1e6 if us.lstrip("-").isdigit() and int(us) > 0 else 0.0
    speed_text = kv.get("speed", "N/A").strip().rstrip("x")
    try:
        speed = float(speed_text)
    except ValueError:
        speed = None
    return Progress(position, speed, kv.get("progress") == "end")


ProgressCallback = Callable[[Progress], Awaitable[None]]
#: linux/prctl.h
PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """In a child between fork and exec (`preexec_fn`): ask Linux to send it `sig` when its
    parent dies (`prctl(PR_SET_PDEATHSIG)`), so no child outlives a killed worker. A no-op
    where prctl is missing."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig))


class Stalled(RuntimeError):
    """ffmpeg's position did not move for `stall_seconds`: it was killed (a transient
    failure: the task is retried)."""


class TimeLimitExceeded(RuntimeError):
    """ffmpeg ran past its time limit and was killed (transient: the task is retried)."""


async def run_ffmpeg(cmd: list[str], on_progress: ProgressCallback | None = None,
                     interval: float = 1.0, stall_seconds: float | None = None,
                     time_limit: float | None = None) -> str:
    """Run `cmd` (which should carry `-progress pipe:1 -nostats`); call `on_progress` at
    most every `interval` seconds and once at the end. Returns stderr; raises
    `FfmpegError` on a non-zero exit. A watchdog kills ffmpeg and raises `Stalled` when
    its media position has not advanced for `stall_seconds`, or `TimeLimitExceeded` after
    `time_limit` seconds (None: no limit). Cancelling the caller kills ffmpeg, and so does
    the caller's death (`die_with_parent`: a `kill -9`ed worker leaves no ffmpeg behind)."""
    proc = await asyncio.create_subprocess_exec(*cmd, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                preexec_fn=die_with_parent)
    assert proc.stdout is not None and proc.stderr is not None
    stderr_task = asyncio.ensure_future(proc.stderr.read())
    started = last_sent = last_moved = time.monotonic()
    position = -1.0
    block: list[str] = []
    try:
        while True:
            now = time.monotonic()
            waits = [w for w in (None if stall_seconds is None else last_moved + stall_seconds - now,
                                 None if time_limit is None else started + time_limit - now) if w is not None]
            try:
                raw = await asyncio.wait_for(proc.stdout.readline(), max(0.0, min(waits))) if waits \
                    else await proc.stdout.readline()
            except TimeoutError:
                raw = None
            now = time.monotonic()
            if time_limit is not None and now - started >= time_limit:
                raise TimeLimitExceeded(f"ffmpeg ran past its time limit of {time_limit:.0f}s")
            if stall_seconds is not None and now - last_moved >= stall_seconds:
                raise Stalled(f"ffmpeg made no progress for {stall_seconds:.0f}s (stuck at {max(position, 0):.1f}s)")
            if raw is None:
                continue
            if not raw:
                break
            line = raw.decode(errors="replace")
            block.append(line)
            if not line.startswith("progress="):
                continue
            p = parse_progress_block(block)
            block = []
            if p.position_seconds > position or p.done:
                position, last_moved = p.position_seconds, now
            if on_progress is not None and (p.done or now - last_sent >= interval):
                last_sent = now
                await on_progress(p)
        returncode = await proc.wait()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        stderr_task.cancel()
        raise
    stderr = (await stderr_task).decode(errors="replace")
    if returncode != 0:
        raise FfmpegError(returncode, stderr)
    return stderr


async def run_quiet(cmd: list[str], time_limit: float | None = None) -> str:
    """Run a short ffmpeg command without progress (so no stall watchdog), killed after
    `time_limit` seconds; returns stderr, raises `FfmpegError` / `TimeLimitExceeded`."""
    return await run_ffmpeg(cmd, None, time_limit=time_limit)
