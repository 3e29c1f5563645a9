"""The supervisor's restart backoff (reliability finding: it never reset, so a service that
crashed a few times stayed on 30 s restarts for the rest of the run)."""

import subprocess
import sys

from ops import processes
from ops.processes import STABLE_SECONDS, Supervisor


class Exiting(Supervisor):
    """Each 'service' is a process that has already exited with status 3."""

    spawned: list[float]

    def _spawn(self, name: str) -> None:
        self.spawned.append(processes.time.monotonic())
        proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
        proc.wait()
        self.procs[name] = proc


def test_backoff_doubles_then_starts_over_after_a_stable_run(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(processes.time, "monotonic", lambda: clock[0])
    sup = Exiting(env={}, services=("svc",))
    sup.spawned = []
    sup.start()

    def advance_and_check(seconds: float) -> None:
        clock[0] += seconds
        sup.check()

    advance_and_check(0.1)   # crash 1: restarted at once, next backoff 1 s
    advance_and_check(0.5)   # within the backoff: not restarted
    advance_and_check(0.6)   # crash 2 restarted, next 2 s
    advance_and_check(2.1)   # crash 3 restarted, next 4 s
    assert len(sup.spawned) == 4 and sup._restarts["svc"][0] == 3
    advance_and_check(STABLE_SECONDS + 1)   # it "ran" a minute before this crash: backoff starts over
    assert len(sup.spawned) == 5 and sup._restarts["svc"][0] == 1
    assert sup._restarts["svc"][1] == clock[0] + 1.0  # next backoff 1 s again, not 8


def test_a_service_exits_even_when_a_task_ignores_cancellation():
    """A NATS client reconnecting to a killed server may not end when cancelled;
    `asyncio.run` would wait for it forever (a service that never exits after SIGTERM)."""
    import asyncio
    import time

    from runtime.worker.service import CLEANUP_SECONDS, run_bounded

    async def main() -> None:
        async def stubborn() -> None:
            while True:
                try:
                    await asyncio.sleep(10)
                except asyncio.CancelledError:
                    continue

        asyncio.ensure_future(stubborn())
        await asyncio.sleep(0)

    t0 = time.monotonic()
    run_bounded(main())
    assert time.monotonic() - t0 < CLEANUP_SECONDS + 1.5
