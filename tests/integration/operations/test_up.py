"""`tflow up` as a user runs it (reliability findings: a killed server was never
restarted; Ctrl-C waited 10 s per service one after another when NATS was gone; killing
`tflow up` left restarted services and Postgres behind as orphans)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from ops.stack import free_port, wait_for_http

pytestmark = pytest.mark.integration

SERVERS = {"nats-server", "postgres", "minio"}


def start_up(tmp_path) -> tuple[subprocess.Popen, str]:
    """`python -m ops.cli up` on a fresh data dir and free loopback ports; returns it
    and the API's URL once /health answers."""
    api_port = free_port()
    env = {**os.environ, "TFLOW_DATA_DIR": str(tmp_path / "data"), "TFLOW_API_PORT": str(api_port),
           "TFLOW_NATS_PORT": str(free_port()), "TFLOW_S3_PORT": str(free_port()), "TFLOW_API_WORKERS": "1",
           "TFLOW_TRANSCRIPTION": "false"}
    for k in ("TFLOW_NATS_URL", "TFLOW_DATABASE_URL", "TFLOW_S3_ENDPOINT"):
        env.pop(k, None)
    log = open(tmp_path / "up.log", "ab")  # noqa: SIM115 - kept open for the child's life
    proc = subprocess.Popen([sys.executable, "-m", "ops.cli", "up"], env=env, stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{api_port}"
    wait_for_http(f"{url}/health", 90, lambda: proc.poll() is None)
    return proc, url


def children(proc: subprocess.Popen) -> dict[int, str]:
    """Every process `tflow up` started (its children: servers and services), pid -> name."""
    return {c.pid: c.name() for c in psutil.Process(proc.pid).children()}


def named(proc: subprocess.Popen, name: str) -> psutil.Process:
    for c in psutil.Process(proc.pid).children():
        if c.name() == name or name in " ".join(c.cmdline()):
            return c
    raise AssertionError(f"no child {name} of tflow up: {children(proc)}")


def wait_gone(pids, timeout: float) -> list[int]:
    """The pids still alive (not zombies) after waiting up to `timeout` s for them to go."""
    deadline = time.monotonic() + timeout
    alive = list(pids)

    def living(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:  # gone between two looks
            return False
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if living(p)]
        time.sleep(0.1)
    return alive


def restarted(proc: subprocess.Popen, name: str, old_pid: int, timeout: float = 30) -> psutil.Process:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            new = named(proc, name)
            if new.pid != old_pid:
                return new
        except (AssertionError, psutil.NoSuchProcess):
            pass
        time.sleep(0.1)
    raise AssertionError(f"{name} was not restarted within {timeout}s")


def test_killed_servers_restart_and_every_child_dies_with_a_killed_tflow_up(tmp_path):
    proc, url = start_up(tmp_path)
    conf = json.loads((tmp_path / "data" / "nats" / "server.conf").read_text())
    assert conf["jetstream"]["sync_interval"] == "always"  # every acknowledged fact is on disk
    try:
        started = children(proc)
        assert set(started.values()) >= SERVERS, started
        for server in ("nats-server", "postgres", "minio"):
            old = named(proc, server)
            os.kill(old.pid, signal.SIGKILL)
            restarted(proc, server, old.pid)
        ingest = named(proc, "services.ingest")
        os.kill(ingest.pid, signal.SIGKILL)
        restarted(proc, "services.ingest", ingest.pid)
        wait_for_http(f"{url}/health", 60, lambda: proc.poll() is None)  # healed: every check ok again
        everything = {p.pid for p in psutil.Process(proc.pid).children(recursive=True)}
    finally:
        proc.kill()
        proc.wait()
    left = wait_gone(everything, 15)
    assert not left, [psutil.Process(p).cmdline() for p in left if psutil.pid_exists(p)]


def test_ctrl_c_stops_everything_within_10s_with_a_hung_nats(tmp_path):
    proc, _ = start_up(tmp_path)
    everything = {p.pid for p in psutil.Process(proc.pid).children(recursive=True)}
    nats = named(proc, "nats-server")
    os.kill(nats.pid, signal.SIGSTOP)  # hung: accepts nothing, answers nothing, ignores SIGTERM
    time.sleep(1.0)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(20)
    finally:
        if proc.poll() is None:
            proc.kill()
    took = time.monotonic() - t0
    left = wait_gone(everything, 5)
    assert not left, [psutil.Process(p).cmdline() for p in left if psutil.pid_exists(p)]
    assert took <= 10.5, f"Ctrl-C took {took:.1f}s"
    assert proc.returncode == 0
    assert "Traceback" not in (tmp_path / "up.log").read_text()
