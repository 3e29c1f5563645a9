"""Per-job temp directories of the workers, and the sweep of those dead workers left."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_workdirs(parent: Path | None, job_id: str = "*") -> list[Path]:
    """Remove the job directories (`tflow-<service>-<pid>-<job>-*`) under `parent` (None:
    the system temp) whose process is gone: what a worker killed mid-task (`kill -9`, out
    of memory) left behind. `job_id` limits it to one job. Returns what was removed."""
    root = Path(parent) if parent is not None else Path(tempfile.gettempdir())
    removed = []
    for path in root.glob(f"tflow-*-*-{job_id}-*"):
        parts = path.name.split("-")
        pid = next((int(p) for p in parts[2:3] if p.isdigit()), None)
        if pid is None or pid == os.getpid() or _pid_alive(pid) or not path.is_dir():
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    if removed:
        log.info("removed %d stale job directories: %s", len(removed), ", ".join(p.name for p in removed))
    return removed


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
