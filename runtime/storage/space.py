"""Free disk space at the edge: how much a directory's filesystem has left, whether an
error means "the disk is full" (ENOSPC / EDQUOT, errno(3); FFmpeg's "No space left on
device"; MinIO's `XMinioStorageFull`, HTTP 507), and waiting until space returns
(issue 28: a full disk is the machine's problem, waited out, never the input's)."""

from __future__ import annotations

import asyncio
import errno
import logging
import shutil
import tempfile
import time
from pathlib import Path

from minio.error import S3Error

from runtime.observability.metrics import DISK_FREE, DISK_WAITING

log = logging.getLogger(__name__)

#: errno values of a full disk or quota (errno(3)).
FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
#: What FFmpeg prints for ENOSPC (av_strerror of AVERROR(ENOSPC)).
FFMPEG_FULL = "no space left on device"
#: S3 error codes of a store out of space: MinIO's (cmd/api-errors.go, answered 507).
STORE_FULL_CODES = ("XMinioStorageFull", "InsufficientStorage", "StorageFull")
#: Free bytes below which any failure of a task writing the work dir counts as a full
#: disk (ffmpeg may report a failed write as EIO or a muxer error): retried, never the input's.
NEARLY_FULL_BYTES = 16_000_000
#: Seconds between two looks at the free space while waiting for it.
SPACE_POLL_SECONDS = 2.0


def work_root(work_dir: Path | None) -> Path:
    """The directory the job folders live in: `work_dir`, else the system temp."""
    return work_dir if work_dir is not None else Path(tempfile.gettempdir())


def existing(path: Path) -> Path:
    """`path`, or its nearest ancestor that exists (a work dir not made yet lives on its
    parent's filesystem)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged writer may still use on `path`'s filesystem (statvfs
    `f_bavail`; a `path` not made yet: its nearest existing ancestor's); 0 when it cannot
    be read."""
    try:
        return shutil.disk_usage(existing(path)).free
    except OSError:
        return 0


def human(size: float) -> str:
    """`size` bytes as "12.3 MB" (decimal units, as df -H)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(size) < 1000 or unit == "TB":
            break
        size /= 1000
    return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"


def is_full(error: BaseException) -> bool:
    """Whether `error` (or what caused it) says a disk or the store is out of space."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in FULL_ERRNOS:
            return True
        if isinstance(seen, S3Error) and seen.code in STORE_FULL_CODES:
            return True
        stderr = getattr(seen, "stderr", None)
        if isinstance(stderr, str) and FFMPEG_FULL in stderr.lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def full_reason(error: BaseException, path: Path) -> str:
    """The whole-sentence reason of a full disk: the store's, else the work dir's at
    `path` with its free and total bytes."""
    if isinstance(error, S3Error) or isinstance(error.__cause__, S3Error):
        return "The object store is out of space (it answered storage full); the task waits and is retried."
    try:
        usage = shutil.disk_usage(existing(path))
        figures = f" ({human(usage.free)} free of {human(usage.total)})"
    except OSError:
        figures = ""
    return f"No space left on the work dir{figures}; the task waits for space and is retried."


def observe(service: str, path: Path) -> int:
    """Set `tflow_disk_free_bytes{service}` for `path`; the free bytes."""
    free = free_bytes(path)
    DISK_FREE.labels(service).set(free)
    return free


async def wait_for_space(service: str, path: Path, min_free: int) -> float:
    """Return once `path`'s filesystem has `min_free` bytes free, looking every
    `SPACE_POLL_SECONDS`; while waiting, `tflow_disk_waiting{service}` is 1
    and one warning is logged per minute. Returns the seconds waited."""
    started, said = time.monotonic(), 0.0
    free = await asyncio.to_thread(observe, service, path)
    if free >= min_free:
        return 0.0
    DISK_WAITING.labels(service).set(1)
    try:
        while free < min_free:
            if time.monotonic() - said >= 60:
                log.warning("%s: %s free on the work dir, below %s: waiting for space before more work",
                            service, human(free), human(min_free))
                said = time.monotonic()
            await asyncio.sleep(SPACE_POLL_SECONDS)
            free = await asyncio.to_thread(observe, service, path)
    finally:
        DISK_WAITING.labels(service).set(0)
    waited = time.monotonic() - started
    log.info("%s: %s free on the work dir again after %.1fs", service, human(free), waited)
    return waited

