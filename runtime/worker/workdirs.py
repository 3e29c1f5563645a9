"""Per-job temp directories of the workers and the API's upload spools, the sweep of
those dead workers left, and the age limit of both (PRD §6.2: temp files older than 24 h)."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from runtime.storage.space import work_root

log = logging.getLogger(__name__)

#: Name prefix of the API's upload spool directories in the work dir.
UPLOAD_SPOOL_PREFIX = "tflow-upload-"


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists and is no zombie (`/proc/<pid>/stat` state Z)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[-1][:1] != "Z"
    except OSError:
        return True


def _owner_pid(path: Path) -> int | None:
    """The pid in a job directory's name (`tflow-<service>-<pid>-...`), if any."""
    return next((int(p) for p in path.name.split("-")[2:3] if p.isdigit()), None)


def sweep_workdirs(parent: Path | None, job_id: str = "*") -> list[Path]:
    """Remove the job directories (`tflow-<service>-<pid>-<job>-*`) under `parent` (None:
    the system temp) whose process is gone: what a worker killed mid-task (`kill -9`, out
    of memory) left behind. `job_id` limits it to one job. Returns what was removed."""
    removed = []
    for path in work_root(parent).glob(f"tflow-*-*-{job_id}-*"):
        pid = _owner_pid(path)
        if pid is None or pid == os.getpid() or pid_alive(pid) or not path.is_dir():
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    if removed:
        log.info("removed %d stale job directories: %s", len(removed), ", ".join(p.name for p in removed))
    return removed


def old_temp(parent: Path | None, max_age_seconds: float, now: float | None = None) -> list[Path]:
    """The job directories and upload spools (`tflow-*`) under `parent` (None: the system
    temp) last modified more than `max_age_seconds` before `now` (epoch seconds, default
    the clock), except a job directory whose process still runs (its work is in use)."""
    now = time.time() if now is None else now
    found = []
    for path in sorted(work_root(parent).glob("tflow-*")):
        try:
            age = now - path.lstat().st_mtime
        except OSError:
            continue
        pid = _owner_pid(path)
        if age > max_age_seconds and not (pid is not None and pid != os.getpid() and pid_alive(pid)):
            found.append(path)
    return found


def remove_path(path: Path) -> None:
    """Remove a file or directory tree (never follows a symbolic link; never raises)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


@contextlib.contextmanager
def job_workdir(parent: Path | None, job_id: str, service: str) -> Iterator[Path]:
    """A temp directory for one job's work (`tflow-<service>-<pid>-<job>-*` under
    `parent`, None: the system temp), removed when the work ends, whatever the outcome;
    what a dead worker left for the same job is swept first."""
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    sweep_workdirs(parent, job_id)
    path = Path(tempfile.mkdtemp(prefix=f"tflow-{service}-{os.getpid()}-{job_id}-", dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
