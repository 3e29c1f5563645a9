"""Stopping when a server is gone (reliability finding: with NATS killed, services ignored
SIGTERM, the API's lifespan raised from `nc.drain()`, and `tflow up` waited 10 s per
service one after another)."""

from __future__ import annotations

import time

import pytest

from tests.integration.conftest import started_stack

pytestmark = pytest.mark.integration


def test_services_stop_promptly_and_cleanly_after_nats_is_killed(tmp_path_factory):
    with started_stack(tmp_path_factory.mktemp("nonats"), ("projector", "ingest", "transcoder", "api")) as stack:
        api_log = stack.logs / "api.log"
        deadline = time.monotonic() + 30
        while api_log.read_text().count("Application startup complete.") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)  # both API workers are up (one in its startup when NATS dies is another case)
        nats = stack.servers.procs["nats"]
        nats.kill()
        nats.wait()
        time.sleep(2.0)  # every service has noticed: reconnecting
        t0 = time.monotonic()
        for proc in stack.sup.procs.values():
            proc.terminate()
        took = {}
        for name, proc in stack.sup.procs.items():
            proc.wait(15)
            took[name] = round(time.monotonic() - t0, 2)
        assert max(took.values()) < 8, took  # each stopped by itself, well before a SIGKILL would come
        assert all(proc.returncode in (0, -15) for proc in stack.sup.procs.values()), \
            {n: p.returncode for n, p in stack.sup.procs.items()}
        for log in stack.logs.glob("*.log"):
            text = log.read_text()
            assert "Traceback" not in text, (log.name, text[-1500:])
        for name in ("projector", "ingest", "transcoder"):
            assert f"{name} stopped" in (stack.logs / f"{name}.log").read_text()  # a clean end, not a kill
