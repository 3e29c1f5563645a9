"""The drop folder against names and silences that used to stall it (reliability issue):
a name that is not valid UTF-8 crashed the watcher and ingest with it, a backslash or an
over-long sidecar name was retried forever, and a file without a verdict was filed under
done/ as if accepted. Its own small stack: ingest waits only 3 s for a verdict here."""

from __future__ import annotations

import json
import os
import shutil
import time
from datetime import UTC, datetime, timedelta

import pytest

from runtime.jetstream.connection import connect
from tests.integration.conftest import started_stack
from tests.media import media

pytestmark = pytest.mark.integration
CLIP = "valid/h264_1080x720_aac.flv"


@pytest.fixture(scope="module")
def names_stack(tmp_path_factory):
    with started_stack(tmp_path_factory.mktemp("names"), ("projector", "ingest", "api"),
                       extra_env={"TFLOW_INBOX_VERDICT_TIMEOUT_SECONDS": "3"}) as s:
        yield s


def filed_bytes(stack, name: bytes, timeout: float = 30) -> str:
    """Where a drop whose name is raw bytes was filed (done or failed)."""
    inbox = os.fsencode(stack.inbox)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for folder in (b"done", b"failed"):
            if name in os.listdir(os.path.join(inbox, folder)):
                return folder.decode()
        time.sleep(0.05)
    raise AssertionError(f"{name!r} was not filed within {timeout}s")


def test_names_that_can_never_be_keys_fail_at_once_and_stall_nothing(names_stack):
    stack = names_stack
    bad = b"not-utf8-\xff\xfe.flv"
    with open(os.path.join(os.fsencode(stack.inbox), bad), "wb") as f:
        f.write(media(CLIP).read_bytes())
    assert filed_bytes(stack, bad) == "failed"
    with open(os.path.join(os.fsencode(stack.inbox), b"failed", bad + b".error.txt"), "rb") as f:
        note = f.read().decode()
    assert note.startswith("invalid_name: the file name is not valid UTF-8"), note
    for name, why in (("back\\slash.flv", "backslash"), ("tab\there.flv", "control character")):
        stack.drop(media(CLIP), name)
        assert stack.wait_filed(name) == "failed"
        assert why in (stack.inbox / "failed" / f"{name}.error.txt").read_text()
    stack.drop(media(CLIP), "after-the-bad-names.flv")  # the folder still works, and ingest never restarted
    assert stack.wait_filed("after-the-bad-names.flv") == "done"
    assert "ingest" not in stack.sup._restarts
    assert "polling" in (stack.logs / "ingest.log").read_text()  # the watcher failed; polling took over


def test_a_name_too_long_for_its_sidecars_is_taken(names_stack):
    name = "n" * 246 + ".flv"  # 250 bytes: `<name>.json` and `<name>.error.txt` cannot exist
    names_stack.drop(media(CLIP), name)
    assert names_stack.wait_filed(name) == "done"


async def test_no_verdict_files_under_failed_as_unknown_never_done(names_stack):
    stack = names_stack
    nc = await connect(stack.settings, "tests")
    pause = "$JS.API.CONSUMER.PAUSE.MINIO.ingest"
    until = (datetime.now(UTC) + timedelta(seconds=60)).isoformat().replace("+00:00", "Z")
    try:
        reply = json.loads((await nc.request(pause, json.dumps({"pause_until": until}).encode(), timeout=5)).data)
        assert reply.get("paused") is True, reply
        shutil.copyfile(media("valid/mpeg4asp_960x400_mp3.avi"), stack.inbox / "silence.avi")
        assert stack.wait_filed("silence.avi", 30) == "failed"
        note = (stack.inbox / "failed" / "silence.avi.error.txt").read_text()
        assert note.startswith("unknown: no verdict from ingest within 3 s"), note
        assert not (stack.inbox / "done" / "silence.avi").exists()
    finally:
        await nc.request(pause, b"{}", timeout=5)
        await nc.close()
