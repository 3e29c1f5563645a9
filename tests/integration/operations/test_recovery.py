"""Backups, migrations and the smoke test on the session's stack (issue 29): an objects
snapshot copies only what is new or changed; verify restores into scratch servers and
catches a damaged copy; retention removes old snapshots and the copies only they used;
every migration rolls back and forward again; `tflow smoke` passes in under a minute and
names the step that fails."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from urllib.parse import urlsplit, urlunsplit

import pytest

from ops.recovery import repository
from ops.recovery.backup import take
from ops.recovery.verify import verify
from readmodel.db import migrate, migration_status, rollback_to

pytestmark = pytest.mark.integration


def tflow(stack, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ops.cli", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "TFLOW_DATA_DIR": str(stack.settings.data_dir)})


def test_smoke_passes_within_a_minute_and_leaves_no_job(stack):
    done = tflow(stack, "smoke", stack.api_url, stack.admin_key)
    assert done.returncode == 0, done.stderr
    said = json.loads(done.stdout)
    assert said["ok"] and said["seconds"]["total"] < 60, said
    assert set(said["seconds"]) >= {"upload", "completed", "hls", "download", "delete"}
    assert stack.api().get(f"/api/v1/jobs/{said['job_id']}").status_code == 410


def test_smoke_names_the_step_that_fails(stack):
    done = tflow(stack, "smoke", stack.api_url, "tf_not_a_key")
    assert done.returncode == 1 and "FAILED upload:" in done.stderr and "401" in done.stderr, done.stderr


def test_objects_are_copied_incrementally_and_verify_catches_a_damaged_copy(stack, tmp_path):
    repo = tmp_path / "repo"
    client, bucket = stack.client(), stack.settings.s3.bucket
    client.put_object(bucket, "backup-test/first.bin", io.BytesIO(b"first"), 5)
    first = take(stack.settings, repo, client=client)
    counts: dict = first["objects"]  # type: ignore[assignment]
    assert counts["copied"] == counts["objects"] > 0 and counts["reused"] == 0
    assert set(first["tables"]) >= {"jobs", "tasks", "api_keys", "projector_checkpoint"}  # type: ignore[arg-type]
    body = b"a new object " * 1000
    client.put_object(bucket, "backup-test/new.bin", io.BytesIO(body), len(body))
    second = take(stack.settings, repo, ("objects",), client=client)
    again: dict = second["objects"]  # type: ignore[assignment]
    assert again["objects"] == counts["objects"] + 1 and again["copied"] == 1 and again["copied_bytes"] == len(body)
    full, objects = repository.chosen(repo)
    assert (full.id, objects.id) == (first["id"], second["id"])
    report = verify(stack.settings, repo)
    assert report["ok"], [c for c in report["checks"] if not c["ok"]]  # type: ignore[attr-defined]
    entry = objects.objects()["backup-test/new.bin"]
    repository.blob_path(repo, entry["sha256"]).write_bytes(b"bit rot")
    damaged = verify(stack.settings, repo)
    failed = {c["what"] for c in damaged["checks"] if not c["ok"]}  # type: ignore[attr-defined]
    assert not damaged["ok"] and f"blob {entry['sha256'][:12]}" in failed and "objects whose SHA-256 differs" in failed
    client.remove_object(bucket, "backup-test/new.bin")
    client.remove_object(bucket, "backup-test/first.bin")


def test_retention_keeps_the_newest_full_snapshots_and_the_copies_they_use(stack, tmp_path):
    repo = tmp_path / "repo"
    client, bucket = stack.client(), stack.settings.s3.bucket
    settings = stack.settings.updated(backup={"keep": 1})
    client.put_object(bucket, "backup-test/old.bin", io.BytesIO(b"old bytes"), 9)
    old = take(settings, repo, client=client)
    sha = repository.snapshots(repo)[0].objects()["backup-test/old.bin"]["sha256"]
    client.remove_object(bucket, "backup-test/old.bin")
    time.sleep(1.1)  # another second: another id
    take(settings, repo, ("objects",), client=client)
    newest = take(settings, repo, client=client)
    assert [s.id for s in repository.snapshots(repo)] == [newest["id"]]
    assert newest["pruned"]["snapshots"] == 2 and old["id"] not in {s.id for s in repository.snapshots(repo)}
    assert not repository.blob_path(repo, sha).exists()
    listed = tflow(stack, "backup", str(repo), "--list")
    assert listed.returncode == 0 and listed.stdout.startswith(str(newest["id"])), listed.stderr


def test_every_migration_rolls_back_and_forward_again(stack):
    parts = urlsplit(stack.settings.database.url)
    url = urlunsplit(parts._replace(path="/migrations_drill"))
    migrate(url)
    versions = [v for v, applied in migration_status(url) if applied]
    assert len(versions) >= 10 and versions == sorted(versions)
    assert rollback_to(url, versions[-2]) == [versions[-1]]
    assert [a for _, a in migration_status(url)][-1] is False
    assert rollback_to(url, "0") == list(reversed(versions[:-1]))
    assert not any(a for _, a in migration_status(url))
    migrate(url)
    assert all(a for _, a in migration_status(url))
    with pytest.raises(ValueError, match="no migration"):
        rollback_to(url, "20000101000000")


async def test_the_schedule_takes_a_full_snapshot_then_objects_snapshots(stack, tmp_path):
    import asyncio

    from ops.recovery.schedule import LAST_SUCCESS, keep_backing_up

    repo = tmp_path / "repo"
    settings = stack.settings.updated(backup={"objects_every_minutes": 0.03})  # every 1.8 s
    stop = asyncio.Event()
    running = asyncio.create_task(keep_backing_up(settings, repo, stop))
    deadline = time.monotonic() + 60
    while len(repository.snapshots(repo)) < 3 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    stop.set()
    await asyncio.wait_for(running, 70)
    snaps = repository.snapshots(repo)
    assert snaps[0].full and [s.parts for s in snaps[1:3]] == [frozenset({"objects"})] * 2, [s.parts for s in snaps]
    assert LAST_SUCCESS.labels("full")._value.get() > time.time() - 120
