"""Servers killed with `kill -9` come back by themselves (reliability finding: `tflow up`
supervised the services, not NATS, Postgres or the S3 store) and the services ride it
out without a restart of their own. These tests kill servers, so they run on a
supervised stack of their own (ingest, projector, API), never on the session's."""

from __future__ import annotations

import os
import signal
import time

import pytest

from contracts import job_id_for
from runtime.storage import store
from tests.integration.conftest import ACCEPTED, discard, job_by_key, started_stack
from tests.media import media
from tests.support.own_stack import own_js, own_pool  # noqa: F401 - fixtures

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """A supervised stack for this module alone (it kills its servers)."""
    with started_stack(tmp_path_factory.mktemp("restarts"), ("projector", "ingest", "api"), supervise=True) as s:
        yield s



def kill_server(stack, name: str, timeout: float = 30) -> float:
    """`kill -9` server `name`; wait until the supervisor has started a new one. Returns
    the seconds until the new process existed."""
    old = stack.servers.procs[name]
    os.kill(old.pid, signal.SIGKILL)
    started = time.monotonic()
    while stack.servers.procs[name] is old or stack.servers.procs[name].poll() is not None:
        assert time.monotonic() - started < timeout, f"{name} was not restarted within {timeout}s"
        time.sleep(0.05)
    return time.monotonic() - started


async def test_services_reconnect_after_nats_is_killed(stack, pool):
    before = {n: p.pid for n, p in stack.sup.procs.items()}
    kill_server(stack, "nats")
    stack.drop(media("valid/h264_1080x720_aac.flv"), "after-nats-kill.flv")
    job = await job_by_key(pool, "raw/after-nats-kill.flv", timeout=60)
    await discard(stack, job["id"])
    assert job["status"] in ACCEPTED
    assert {n: p.pid for n, p in stack.sup.procs.items()} == before, "a service had to be restarted"


async def test_projector_and_api_recover_after_postgres_is_killed(stack, pool):
    before = {n: p.pid for n, p in stack.sup.procs.items()}
    kill_server(stack, "postgres")
    stack.drop(media("valid/mpeg4asp_960x400_mp3.avi"), "after-pg-kill.avi")
    job = await job_by_key(pool, "raw/after-pg-kill.avi", timeout=60)
    assert job["status"] in ACCEPTED
    await discard(stack, job["id"])
    api = stack.api()
    codes = [api.get(f"/api/v1/jobs/{job['id']}").status_code for _ in range(12)]
    assert set(codes) <= {200, 503} and codes[-1] == 200, codes  # a stale connection is a 503, never a 500
    assert {n: p.pid for n, p in stack.sup.procs.items()} == before, "a service had to be restarted"


async def test_ingest_rides_out_the_store_being_killed(stack, pool):
    before = {n: p.pid for n, p in stack.sup.procs.items()}
    kill_server(stack, "minio")
    stack.drop(media("valid/h264_1080x720_aac.flv"), "after-store-kill.flv")
    job = await job_by_key(pool, "raw/after-store-kill.flv", timeout=90)
    assert job["status"] in ACCEPTED
    await discard(stack, job["id"])
    assert {n: p.pid for n, p in stack.sup.procs.items()} == before, "a service had to be restarted"


async def test_every_put_while_nats_is_killed_and_restarted_becomes_exactly_one_job(stack, pool, js):
    """MinIO publishes its events straight to NATS (no queue directory: ops.minio), so the
    events of objects written while NATS is down are lost; the reconcile sweep finds those.
    20 PUTs: 5 before `kill -9` of NATS, 10 while it is down, 5 after its restart."""
    client, bucket, src = stack.client(), stack.settings.s3.bucket, media("valid/h264_1080x720_aac.flv")
    keys = [f"raw/nats-kill/{i:02d}.flv" for i in range(20)]
    refs = [store.upload_file(client, bucket, key, src) for key in keys[:5]]
    old = stack.servers.procs["nats"]
    os.kill(old.pid, signal.SIGKILL)
    old.wait()
    refs += [store.upload_file(client, bucket, key, src) for key in keys[5:15]]
    assert stack.servers.procs["nats"] is old, "NATS came back before the outage's PUTs: the test proves nothing"
    kill_waited = time.monotonic()
    while stack.servers.procs["nats"] is old:
        assert time.monotonic() - kill_waited < 30, "NATS was not restarted"
        time.sleep(0.05)
    refs += [store.upload_file(client, bucket, key, src) for key in keys[15:]]
    jobs = [await job_by_key(pool, key, timeout=60) for key in keys]
    for job in jobs:
        await discard(stack, job["id"])
    assert all(job["status"] in ACCEPTED for job in jobs)
    assert [str(job["id"]) for job in jobs] == [job_id_for(ref) for ref in refs]
    assert await pool.fetchval("SELECT count(*) FROM jobs WHERE source_key LIKE 'raw/nats-kill/%'") == 20
    for ref in refs:
        subject = f"jobs.{job_id_for(ref)}.received"
        received = (await js.stream_info("JOBS", subjects_filter=subject)).state.subjects or {}
        assert received == {subject: 1}, f"{ref.key}: {received} received facts"
    origins = [job["origin"] for job in jobs]
    print("origins:", origins)
    assert set(origins[:5]) == {"bucket"} and set(origins[5:15]) <= {"bucket", "sweep"}
