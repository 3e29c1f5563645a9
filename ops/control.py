"""The running `tflow up`, from another shell (the runbooks): `<data_dir>/run/tflow.json`
(0600) holds its pid and every child's, rewritten by `tflow up` whenever one changes.

    tflow status            what runs (pids), and whether each is alive
    tflow stop              stop the stack as Ctrl-C does, and wait until it is down
    tflow restart SERVICE   stop one service or server; `tflow up` starts it again
    tflow wait              until the stack runs and its API answers `/health` (or servers only)
    tflow endpoints         the running stack's endpoints as shell `export` lines (secrets
                            included: `eval "$(tflow endpoints)"` in your own shell only), so
                            a worker can join it from another data dir (`tflow up --only ...`)
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ops.secrets import private_file
from runtime.settings import get_settings
from runtime.worker.workdirs import pid_alive as alive

STATUS = "run/tflow.json"


def write_status(data_dir: Path, pid: int, children: dict[str, int]) -> None:
    """Record `tflow up`'s pid and its children's (name -> pid)."""
    (data_dir / "run").mkdir(mode=0o700, exist_ok=True)
    private_file(data_dir / STATUS, json.dumps({"pid": pid, "children": children}, indent=1) + "\n")


class Recorder:
    """Keeps `<data_dir>/run/tflow.json` (`ops.control`) in step with the children's pids."""

    def __init__(self, data_dir: Path, sup: Any, servers: Any):
        self.data_dir, self.sup, self.servers = data_dir, sup, servers
        self.last: dict[str, int] | None = None

    def __call__(self) -> None:
        children = {n: p.pid for group in (self.servers.procs, self.sup.procs if self.sup else {})
                    for n, p in group.items()}
        if children != self.last:
            write_status(self.data_dir, os.getpid(), children)
            self.last = children


def read_status(data_dir: Path) -> dict | None:
    """The status `tflow up` wrote, or None when none is running (no file, or its pid is gone)."""
    path = data_dir / STATUS
    if not path.exists():
        return None
    doc: dict = json.loads(path.read_text())
    return doc if alive(doc["pid"]) else None


def _wait(until: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if until():
            return True
        time.sleep(0.1)
    return False


def endpoint_exports(data_dir: Path) -> list[str]:
    """`export TFLOW_…=…` lines of `<data_dir>/secrets/endpoints.json` (`ops.endpoints`)."""
    from ops.endpoints import ENDPOINTS

    doc = json.loads((data_dir / ENDPOINTS).read_text())
    return [f"export TFLOW_{name.upper()}={shlex.quote(str(value))}" for name, value in doc.items() if value]


def _wait_up(data_dir: Path, timeout: float) -> int:
    """Until `tflow up` on `data_dir` runs every child it recorded and, with the API among
    them, `/health` answers 200; exit 1 after `timeout` s."""
    import urllib.request

    settings = get_settings()
    url = f"http://{settings.api.host}:{settings.api.port}/health"

    def up() -> bool:
        status = read_status(data_dir)
        if status is None or not all(alive(p) for p in status["children"].values()):
            return False
        if "api" not in status["children"]:
            return True
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False
    if not _wait(up, timeout):
        print(f"tflow wait: the stack on {data_dir} is not up after {timeout:.0f}s", file=sys.stderr)
        return 1
    print("up")
    return 0


def cmd_control(args: argparse.Namespace) -> int:
    """`tflow status|stop|restart`; exit 1 when no stack runs or the wait times out."""
    data_dir = get_settings().data_dir
    if args.command == "wait":
        return _wait_up(data_dir, args.timeout)
    status = read_status(data_dir)
    if status is None:
        print(f"tflow {args.command}: no tflow up runs on {data_dir}", file=sys.stderr)
        return 1
    if args.command == "endpoints":
        print("\n".join(endpoint_exports(data_dir)))
        return 0
    if args.command == "status":
        print(json.dumps({"pid": status["pid"], "children": {n: {"pid": p, "alive": alive(p)}
                                                             for n, p in status["children"].items()}}, indent=2))
        return 0
    if args.command == "stop":
        os.kill(status["pid"], signal.SIGTERM)
        if not _wait(lambda: not alive(status["pid"]), args.timeout):
            print(f"tflow stop: tflow up ({status['pid']}) still runs after {args.timeout:.0f}s", file=sys.stderr)
            return 1
        print("stopped")
        return 0
    old = status["children"].get(args.name)
    if old is None:
        print(f"tflow restart: no {args.name!r}; running: {', '.join(status['children'])}", file=sys.stderr)
        return 1
    os.kill(old, signal.SIGTERM)

    def restarted() -> bool:
        now = read_status(data_dir)
        new = now["children"].get(args.name) if now else None
        return new is not None and new != old and alive(new)
    if not _wait(restarted, args.timeout):
        print(f"tflow restart: {args.name} did not come back within {args.timeout:.0f}s", file=sys.stderr)
        return 1
    print(f"{args.name} restarted")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register `status`, `stop` and `restart` on the `tflow` parser's subcommands."""
    sub.add_parser("status", help="what the running tflow up runs").set_defaults(fn=cmd_control)
    wait = sub.add_parser("wait", help="wait until the tflow up on this data dir runs and its API answers /health")
    wait.add_argument("--timeout", type=float, default=120.0)
    wait.set_defaults(fn=cmd_control)
    sub.add_parser("endpoints", help="the running stack's endpoints as shell export lines (secrets included)"
                   ).set_defaults(fn=cmd_control)
    stop = sub.add_parser("stop", help="stop the running tflow up (as Ctrl-C does) and wait")
    stop.add_argument("--timeout", type=float, default=60.0)
    stop.set_defaults(fn=cmd_control)
    restart = sub.add_parser("restart", help="restart one service or server of the running tflow up")
    restart.add_argument("name", help="a service (transcoder, api, ...) or server (nats, postgres, minio)")
    restart.add_argument("--timeout", type=float, default=60.0)
    restart.set_defaults(fn=cmd_control)
