"""Child processes of `tflow up` and the tests: how each is started (it dies with its
parent, umask 077), stopped (all at once, against one deadline), and supervised
(restarted with backoff)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from media.run import die_with_parent
from services import SERVICES

log = logging.getLogger(__name__)


def child_setup() -> None:
    """preexec_fn: SIGTERM this child when the parent dies (Linux PR_SET_PDEATHSIG): no
    orphans; and umask 077, so no file a server or service writes is readable by others."""
    os.umask(0o077)
    die_with_parent(signal.SIGTERM)


def stop_process(proc: subprocess.Popen, name: str, timeout: float = 10.0) -> None:
    """SIGTERM `proc`, wait up to `timeout` seconds, then SIGKILL."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        log.warning("%s did not stop in %.0fs; killing it", name, timeout)
        proc.kill()
        proc.wait()


def stop_all(procs: dict[str, subprocess.Popen], timeout: float = 10.0) -> None:
    """SIGTERM every process at once, then wait for all against one deadline of `timeout`
    seconds and SIGKILL the ones still running: stopping N processes takes at most
    `timeout`, not N times it."""
    for proc in procs.values():
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + timeout
    for name, proc in procs.items():
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in %.0fs; killing it", name, timeout)
            proc.kill()
            proc.wait()


#: A service that ran this long before exiting was healthy: its restart backoff starts over.
STABLE_SECONDS = 60.0


@dataclass
class Supervisor:
    """Runs each service as `python -m services.<name>`, restarting a crashed one with
    backoff (1 s doubling to 30 s, reset once it has run `STABLE_SECONDS`). `stop()` sends
    SIGTERM and waits. `per_service` adds
    environment variables to one service (its NATS user)."""

    env: dict[str, str]
    services: tuple[str, ...] = SERVICES
    log_dir: Path | None = None
    per_service: dict[str, dict[str, str]] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    _restarts: dict[str, tuple[int, float]] = field(default_factory=dict)
    _started: dict[str, float] = field(default_factory=dict)

    def _spawn(self, name: str) -> None:
        with contextlib.ExitStack() as files:  # the child keeps its own descriptor of the log
            out = None
            if self.log_dir is not None:
                self.log_dir.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.log_dir / f"{name}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                out = files.enter_context(os.fdopen(fd, "ab"))
            env = {**self.env, **self.per_service.get(name, {})}
            self.procs[name] = subprocess.Popen([sys.executable, "-m", f"services.{name}"], env=env,
                                                stdout=out, stderr=subprocess.STDOUT if out else None,
                                                stdin=subprocess.DEVNULL, start_new_session=True,
                                                preexec_fn=child_setup)

    def start(self) -> None:
        """Start every service."""
        for name in self.services:
            self._started[name] = time.monotonic()
            self._spawn(name)

    def check(self) -> None:
        """Restart services that exited (call periodically)."""
        now = time.monotonic()
        for name, proc in list(self.procs.items()):
            if proc.poll() is None:
                continue
            count, not_before = self._restarts.get(name, (0, 0.0))
            if now < not_before:
                continue
            if now - self._started.get(name, now) >= STABLE_SECONDS:
                count = 0  # it had been running fine: a new crash starts the backoff afresh
            delay = min(30.0, 2.0 ** count)
            log.warning("%s exited with %s; restarting (next backoff %.0fs)", name, proc.returncode, delay)
            self._restarts[name] = (count + 1, now + delay)
            self._started[name] = now
            self._spawn(name)

    def stop(self) -> None:
        """SIGTERM every service at once and wait; SIGKILL what still runs after 10 s."""
        stop_all(self.procs)
