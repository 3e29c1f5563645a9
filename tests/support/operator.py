"""An operator's shell around a `tflow up` of its own (the runbooks' test, the recovery
bench): the environment of a checkout with `./data`, bash with `set -euo pipefail`, and
job documents compared without what each answer signs anew."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ops.stack import free_port

#: The settings an operator's shell keeps from this process's environment (tool paths).
KEPT = ("TFLOW_MINIO_BINARY", "TFLOW_NATS_CLI")


def operator_env(work: Path) -> dict[str, str]:
    """The environment of a shell in the checkout `work`: `.venv/bin` first on PATH, `./data`,
    free loopback ports, one API worker, no transcription, free metrics ports, and the
    runbooks' `API` and `BACKUPS` (`work/backups`, outside `./data`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TFLOW_") or k in KEPT}
    api_port = free_port()
    env.update({"PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}", "TFLOW_DATA_DIR": "data",
                "TFLOW_API_PORT": str(api_port), "TFLOW_NATS_PORT": str(free_port()),
                "TFLOW_S3_PORT": str(free_port()), "TFLOW_API_WORKERS": "1", "TFLOW_TRANSCRIPTION": "false",
                "TFLOW_METRICS_PORT_BASE": "0", "API": f"http://127.0.0.1:{api_port}",
                "BACKUPS": str(work / "backups")})
    return env


def shell(work: Path, env: dict[str, str], script: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`script` by bash -euo pipefail in `work`, its output captured."""
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=work, env=env, capture_output=True,
                          text=True, timeout=timeout)


def without_urls(doc: object) -> object:
    """`doc` without what each answer signs anew (URLs, their expiry)."""
    if isinstance(doc, dict):
        return {k: without_urls(v) for k, v in doc.items() if not k.endswith("url") and k != "expires_at"}
    if isinstance(doc, list):
        return [without_urls(v) for v in doc]
    return doc
