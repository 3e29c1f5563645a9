"""The runbooks (docs/runbooks/) as an operator runs them (issue 29): a `tflow up` on a
`./data` of its own, started the way the runbooks start it, one real job; then every
runbook's `sh embedded` blocks in the README's order, each by bash with `set -euo
pipefail`. The last one, disaster recovery, loses `./data` and restores it from the
repository the backup runbook filled: the same jobs, the same documents, HLS that plays.
The seconds each runbook took are printed and written to `bench/results/runbooks-*.json`."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import m3u8
import pytest

from ops.control import read_status
from tests.media import media
from tests.support.operator import operator_env, shell, without_urls
from tests.unit.operations.test_runbook_text import ORDER, RUNBOOKS, blocks

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[3]
RESULTS = ROOT / "bench" / "results"
CLIP = "valid/h264_1080x720_aac.flv"


@pytest.fixture(scope="module")
def operator(tmp_path_factory):
    """(work dir, environment) of a `tflow up` started as the runbooks start it, with one
    completed job (JOB) and a backup repository outside `./data` (BACKUPS)."""
    work = tmp_path_factory.mktemp("operator")
    env = operator_env(work)
    (work / "data" / "logs").mkdir(parents=True)
    clip = media(CLIP)
    try:
        yield from _started(work, env, clip)
    finally:
        for data in (work / "data", work / "data" / "worker-2"):
            status = read_status(data) if data.exists() else None
            if status is not None and shell(work, {**env, "TFLOW_DATA_DIR": str(data)}, "tflow stop --timeout 30",
                                            60).returncode != 0:
                os.kill(status["pid"], signal.SIGKILL)


def _started(work: Path, env: dict[str, str], clip: Path):
    started = shell(work, env, "nohup tflow up >> data/logs/up.log 2>&1 &\ntflow wait --timeout 120")
    assert started.returncode == 0, started.stderr + (work / "data" / "logs" / "up.log").read_text()[-3000:]
    shutil.copy(clip, work / "data" / "inbox" / clip.name)
    key = (work / "data" / "admin.key").read_text().strip()
    with httpx.Client(base_url=env["API"], headers={"X-API-Key": key}, timeout=10) as api:
        def done():
            jobs = api.get("/api/v1/jobs").json()["jobs"]
            return jobs[0] if jobs and jobs[0]["status"] == "completed" else None
        deadline = time.monotonic() + 180
        while (job := done()) is None:
            assert time.monotonic() < deadline, "the dropped clip did not complete within 180 s"
            time.sleep(0.5)
    env["JOB"] = job["job_id"]
    yield work, env


@pytest.mark.timeout(900)
def test_every_runbook_runs_against_a_live_embedded_stack(operator):
    work, env = operator
    took: dict[str, float] = {}
    before: dict = {}
    for name in ORDER:
        if name == "disaster-recovery":
            before = {**documents(env), **state(work)}
        started = time.monotonic()
        for n, block in enumerate(blocks(RUNBOOKS / f"{name}.md", "embedded")):
            env["KEY"] = (work / "data" / "admin.key").read_text().strip()
            done = shell(work, env, block)
            assert done.returncode == 0, (f"{name}.md, embedded block {n + 1} exited {done.returncode}:\n{block}\n"
                                          f"--- stdout\n{done.stdout[-2000:]}\n--- stderr\n{done.stderr[-3000:]}")
        took[name] = round(time.monotonic() - started, 2)
    time.sleep(3)  # the restored originals' bucket notifications: they must change nothing
    after = {**documents(env), **state(work)}
    assert [(j["job_id"], j["status"]) for j in after["jobs"]] == [(j["job_id"], j["status"]) for j in before["jobs"]]
    assert differences(without_urls(before["job"]), without_urls(after["job"])) == []
    assert after["keys"] == before["keys"] and before["keys"]  # the key the rotation runbook made, rotated, revoked
    assert after["checkpoint"] == before["checkpoint"] > 0  # the projector resumes where it was
    assert after["consumers"] == before["consumers"]  # every durable's position came back
    plays(env)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    (RESULTS / f"runbooks-{stamp}.json").write_text(json.dumps({"seconds": took}, indent=2) + "\n")
    print("\nrunbooks:", json.dumps(took))


def differences(a: object, b: object, at: str = "") -> list[str]:
    """The paths where `a` and `b` differ, with both values."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in differences(a.get(k), b.get(k), f"{at}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for n, (x, y) in enumerate(zip(a, b, strict=True)) for d in differences(x, y, f"{at}[{n}]")]
    return [] if a == b else [f"{at}: {a!r} != {b!r}"]


def state(work: Path) -> dict:
    """What only the servers hold: API keys (hashes, scopes, state), the projector's
    checkpoint (Postgres), and each JOBS consumer's delivered and ack floor positions."""
    from ops.endpoints import with_endpoints
    from runtime.settings import Settings

    settings = with_endpoints(Settings(_env_file=None, data_dir=work / "data"))

    async def read() -> dict:
        import asyncpg

        from runtime.jetstream.connection import connect

        conn = await asyncpg.connect(settings.database.url)
        try:
            keys = [tuple(r) for r in await conn.fetch("SELECT id, key_hash, scopes, is_active FROM api_keys "
                                                       "ORDER BY id")]
            checkpoint = await conn.fetchval("SELECT last_seq FROM projector_checkpoint WHERE projection = 'jobs'")
        finally:
            await conn.close()
        nc = await connect(settings, "runbooks-test")
        try:
            js = nc.jetstream()
            consumers = {c.name: (c.delivered.stream_seq, c.ack_floor.stream_seq)
                         for c in await js.consumers_info("JOBS") if c.config.durable_name}  # no ephemeral one
        finally:
            await nc.close()
        return {"keys": keys, "checkpoint": checkpoint, "consumers": consumers}
    return asyncio.run(read())


def documents(env: dict[str, str]) -> dict:
    """The job list and JOB's document, as the admin key reads them."""
    with httpx.Client(base_url=env["API"], headers={"X-API-Key": env["KEY"]}, timeout=10) as api:
        return {"jobs": api.get("/api/v1/jobs", params={"limit": 100}).json()["jobs"],
                "job": api.get(f"/api/v1/jobs/{env['JOB']}").json()}


def plays(env: dict[str, str]) -> None:
    """JOB's master playlist opens by a stream token; each variant's last segment loads."""
    with httpx.Client(base_url=env["API"], headers={"X-API-Key": env["KEY"]}, timeout=10) as api:
        token = api.get(f"/api/v1/streaming/token/{env['JOB']}/master").json()
    master = m3u8.loads(httpx.get(token["playlist_url"]).text, uri=token["playlist_url"])
    assert master.playlists
    for variant in master.playlists:
        playlist = m3u8.loads(httpx.get(variant.absolute_uri).text, uri=variant.absolute_uri)
        segment = httpx.get(playlist.segments[-1].absolute_uri)
        assert segment.status_code == 200 and segment.content[:1] == b"G"
