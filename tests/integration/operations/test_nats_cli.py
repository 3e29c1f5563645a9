"""The README's recipes with the real `nats` CLI (natscli v0.2.2, built by `make test`
with `go install`): a job's history, consumers and their lag, reprocessing a job by
publishing a `replayed` fact, backing a stream up and restoring it."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from contracts import Replayed, encode, msg_id_for, subject_for, utcnow
from ops import natsauth
from tests.integration.conftest import job_by_key, wait_for
from tests.media import media

pytestmark = pytest.mark.integration
CLIP = "valid/h264_1080x720_aac.flv"


@pytest.fixture(scope="module")
def nats_cli():
    path = os.environ.get("TFLOW_NATS_CLI") or str(Path(__file__).parents[3] / ".tools/bin/nats")
    if not os.access(path, os.X_OK):
        pytest.skip(f"no nats CLI at {path}: `make natscli` builds it with Go (GOSUMDB=off, pinned v0.2.2)")
    return path


def run(stack, cli: str, *args: str) -> str:
    """`nats ARGS` as the README says: the server and the admin user from the environment."""
    password = natsauth.credentials(stack.settings.data_dir / "secrets")[natsauth.ADMIN]
    env = {**os.environ, "NATS_URL": stack.settings.nats.url or "", "NATS_USER": natsauth.ADMIN,
           "NATS_PASSWORD": password}
    out = subprocess.run([cli, *args], env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert out.returncode == 0, (args, out.stdout, out.stderr)
    return out.stdout


async def test_history_consumers_reprocess_and_backup_with_the_nats_cli(stack, pool, nats_cli, tmp_path):
    stack.drop(media(CLIP), "nats-cli.flv")
    job = await job_by_key(pool, "raw/nats-cli.flv", ("completed",), timeout=120)
    job_id = str(job["id"])

    # a job's history, in order
    subjects = json.loads(run(stack, nats_cli, "stream", "subjects", "JOBS", f"jobs.{job_id}.>", "--json"))
    count = sum(subjects.values())
    history = run(stack, nats_cli, "sub", "--stream", "JOBS", f"jobs.{job_id}.>", "--all", "--count", str(count),
                  "--raw")
    facts = [json.loads(line) for line in history.splitlines() if line.startswith("{")]
    assert len(facts) == count and facts[0]["type"] == "received" and facts[-1]["task"] == "metadata"
    assert {"received", "ingested", "task_started", "task_completed"} <= {f["type"] for f in facts}

    # consumers and their lag
    report = run(stack, nats_cli, "consumer", "report", "JOBS")
    for durable in ("transcoder", "thumbnailer", "transcriber"):  # one consumer per priority band
        assert f"{durable}_p01" in report and f"{durable}_p10" in report
    info = json.loads(run(stack, nats_cli, "consumer", "info", "JOBS", "transcoder_p05", "--json"))
    assert info["config"]["ack_wait"] == 10 * 10**9 and info["num_pending"] >= 0
    assert info["config"]["filter_subjects"] == ["jobs.*.ingested.p05", "jobs.*.replayed.p05"]
    finalize = run(stack, nats_cli, "consumer", "report", "FINALIZE")
    assert all(f"finalizer_{k}" in finalize for k in range(8))

    # reprocess: publish the job's next epoch by hand (what `tflow replay` does)
    last = await pool.fetchval("SELECT epoch FROM jobs WHERE id = $1", job["id"])
    fact = Replayed(job_id=job_id, at=utcnow(), epoch=last + 1, tasks=["thumbnails", "metadata"],
                    epochs={"thumbnails": last + 1, "metadata": last + 1}, reason="nats pub")
    run(stack, nats_cli, "pub", subject_for(fact), encode(fact).decode(), "-H",
        f"Nats-Msg-Id:{msg_id_for(fact)}")

    async def reprocessed():
        row = await pool.fetchrow("SELECT status, epoch FROM tasks WHERE job_id = $1 AND name = 'thumbnails'",
                                  job["id"])
        return row is not None and (row["status"], row["epoch"]) == ("completed", last + 1)
    await wait_for(reprocessed, 90, "thumbnails re-run after a hand-published replay")

    # back up a stream and restore it
    backup = tmp_path / "jobs-backup"
    run(stack, nats_cli, "stream", "backup", "JOBS", str(backup))
    assert (backup / "backup.json").exists() and any(backup.iterdir())
    scratch = f"SCRATCH_{uuid.uuid4().hex[:8]}"
    run(stack, nats_cli, "stream", "add", scratch, "--subjects", f"{scratch.lower()}.>", "--defaults")
    for i in range(5):
        run(stack, nats_cli, "pub", f"{scratch.lower()}.x", f"message {i}")
    run(stack, nats_cli, "stream", "backup", scratch, str(tmp_path / "scratch"))
    run(stack, nats_cli, "stream", "rm", scratch, "-f")
    run(stack, nats_cli, "stream", "restore", str(tmp_path / "scratch"))
    restored = json.loads(run(stack, nats_cli, "stream", "info", scratch, "--json"))
    assert restored["state"]["messages"] == 5
    run(stack, nats_cli, "stream", "rm", scratch, "-f")
