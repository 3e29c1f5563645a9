"""Child processes of `tflow up` and the tests: how each is started (it dies with its
parent, umask 077), stopped (all at once, against one deadline), and supervised
(restarted with backoff): the servers of the embedded stack and the services alike."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from media.run import die_with_parent
from services import SERVICES

log = logging.getLogger(__name__)


def child_setup(death_signal: int = signal.SIGTERM) -> None:
    """preexec_fn: send this child `death_signal` when its parent dies (Linux
    PR_SET_PDEATHSIG; set after Popen's `user=` switch, so it holds for a server run as
    another user too): no orphans, however the parent dies; and umask 077, so no file a
    server or service writes is readable by others."""
    os.umask(0o077)
    die_with_parent(death_signal)


def stop_process(proc: subprocess.Popen, name: str, timeout: float = 10.0) -> None:
    """SIGTERM `proc`, wait up to `timeout` seconds, then SIGKILL."""
    stop_all({name: proc}, timeout)


def stop_all(procs: dict[str, subprocess.Popen], timeout: float = 10.0,
             signals: dict[str, int] | None = None) -> None:
    """Signal every process at once (SIGTERM, or its entry in `signals`), then wait for
    all against one deadline of `timeout` seconds and SIGKILL the ones still running:
    stopping N processes takes at most `timeout`, not N times it."""
    for name, proc in procs.items():
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal((signals or {}).get(name, signal.SIGTERM))
    deadline = time.monotonic() + timeout
    for name, proc in procs.items():
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in %.0fs; killing it", name, timeout)
            proc.kill()
            proc.wait()


@dataclass(frozen=True)
class Program:
    """How to start one supervised child: argv, environment (None = this process's),
    working directory, the system user it runs as (None = ours), its log file (appended,
    0600; None = inherit stdout), the signal that stops it cleanly (`stop_signal`) and the
    one it gets when its parent dies (`death_signal`)."""

    name: str
    argv: tuple[str, ...]
    env: dict[str, str] | None = None
    cwd: Path | None = None
    user: str | None = None
    log: Path | None = None
    stop_signal: int = signal.SIGTERM
    death_signal: int = signal.SIGTERM


def spawn(program: Program) -> subprocess.Popen:
    """Start `program` in its own session, stdin from /dev/null, output to its log."""
    with contextlib.ExitStack() as files:  # the child keeps its own descriptor of the log
        out = None
        if program.log is not None:
            program.log.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(program.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            out = files.enter_context(os.fdopen(fd, "ab"))
        return subprocess.Popen(list(program.argv), env=program.env, cwd=program.cwd, user=program.user,
                                stdout=out, stderr=subprocess.STDOUT if out else None, stdin=subprocess.DEVNULL,
                                start_new_session=True,
                                preexec_fn=functools.partial(child_setup, program.death_signal))


def service_program(name: str, env: dict[str, str], log_dir: Path | None) -> Program:
    """A service as a program: `python -m services.<name>`."""
    return Program(name, (sys.executable, "-m", f"services.{name}"), env=env,
                   log=log_dir / f"{name}.log" if log_dir is not None else None)


#: A child that ran this long before exiting was healthy: its restart backoff starts over.
STABLE_SECONDS = 60.0
#: The longest wait between restarts of a crash-looping child.
MAX_BACKOFF_SECONDS = 30.0


@dataclass
class Supervisor:
    """Keeps programs running: `start()` starts them, `check()` (called periodically)
    restarts one that exited with backoff (1 s doubling to 30 s, reset once it has run
    `STABLE_SECONDS`), `stop()` stops them all at once. Built either from `programs`, or
    for `services` with `env` (plus `per_service` variables, e.g. each one's NATS user)
    and logs under `log_dir`. `restarts` counts restarts per program."""

    env: dict[str, str] = field(default_factory=dict)
    services: tuple[str, ...] = SERVICES
    log_dir: Path | None = None
    per_service: dict[str, dict[str, str]] = field(default_factory=dict)
    programs: dict[str, Program] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)
    _restarts: dict[str, tuple[int, float]] = field(default_factory=dict)
    _started: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.programs:
            self.programs = {name: service_program(name, {**self.env, **self.per_service.get(name, {})},
                                                   self.log_dir) for name in self.services}

    @classmethod
    def of(cls, programs: Iterable[Program]) -> Supervisor:
        """A supervisor of the given programs (nothing started yet)."""
        progs = {p.name: p for p in programs}
        return cls(services=tuple(progs), programs=progs)

    def add(self, program: Program, start: bool = True) -> subprocess.Popen | None:
        """Supervise `program` from now on (and start it); returns its process."""
        self.programs[program.name] = program
        if start:
            self._started[program.name] = time.monotonic()
            self._spawn(program.name)
            return self.procs[program.name]
        return None

    def _spawn(self, name: str) -> None:
        self.procs[name] = spawn(self.programs[name])

    def start(self) -> None:
        """Start every program."""
        for name in self.programs:
            self._started[name] = time.monotonic()
            self._spawn(name)

    def check(self) -> list[str]:
        """Restart the programs that exited and whose backoff has passed; returns their names."""
        now = time.monotonic()
        restarted = []
        for name, proc in list(self.procs.items()):
            if proc.poll() is None:
                continue
            count, not_before = self._restarts.get(name, (0, 0.0))
            if now < not_before:
                continue
            if now - self._started.get(name, now) >= STABLE_SECONDS:
                count = 0  # it had been running fine: a new crash starts the backoff afresh
            delay = min(MAX_BACKOFF_SECONDS, 2.0 ** count)
            log.warning("%s exited with %s; restarting (next backoff %.0fs)", name, proc.returncode, delay)
            self._restarts[name] = (count + 1, now + delay)
            self._started[name] = now
            self.restarts[name] = self.restarts.get(name, 0) + 1
            self._spawn(name)
            restarted.append(name)
        return restarted

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every program at once (each with its `stop_signal`) and wait; SIGKILL what
        still runs after `timeout` seconds."""
        stop_all(self.procs, timeout, {n: p.stop_signal for n, p in self.programs.items()})
