"""The command line against no server: a clear message and a non-zero exit, fast (a
connect that waited forever made `tflow dlq list` hang when `tflow up` was not running)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ops.stack import free_port


def test_commands_fail_fast_and_say_why_when_nats_is_not_there(tmp_path):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("TFLOW_")},
           "TFLOW_DATA_DIR": str(tmp_path), "TFLOW_NATS_URL": f"nats://127.0.0.1:{free_port()}"}
    for args in (["dlq", "list"], ["replay", "0b9a4a8e-7b7c-5d1e-9f00-3a1b2c3d4e5f"]):
        out = subprocess.run([sys.executable, "-m", "ops.cli", *args], env=env, capture_output=True, text=True,
                             timeout=30)
        assert out.returncode == 1, (args, out.stdout, out.stderr)
        assert "cannot reach NATS" in out.stderr and "is `tflow up` running?" in out.stderr


def test_up_only_takes_known_services_in_their_order():
    from ops.cli import only_services
    from services import SERVICES

    assert only_services(None) == SERVICES
    assert only_services("transcriber, transcoder") == ("transcoder", "transcriber")
    for bad in ("transcoder,encoder", ",", ""):
        with pytest.raises(ValueError, match="choose from"):
            only_services(bad)
