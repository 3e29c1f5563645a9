"""The real MinIO path: bucket notification (NATS JetStream target, event rule on
videos/raw/) -> MINIO stream -> ingest -> JOBS -> projector -> Postgres."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import asyncpg
import pytest

from ops import natsauth
from ops.stack import free_port, running_stack
from readmodel.db import create_pool
from runtime.settings import Settings
from runtime.storage import store
from tests.integration.conftest import ACCEPTED, job_by_key
from tests.media import REPO_ROOT, media
from tests.support.minio_server import MinioServer

pytestmark = [pytest.mark.integration, pytest.mark.minio]


def minio_binary() -> Path:
    path = Path(os.environ.get("TFLOW_MINIO_BINARY") or REPO_ROOT / ".tools" / "bin" / "minio")
    if path.exists():
        return path
    if shutil.which("go") is None:
        pytest.skip("Go is not installed, so MinIO cannot be built here (make minio): MinIO notification test skipped")
    pytest.skip(f"MinIO binary not found at {path}: run `make minio` (make test does)")


@pytest.fixture(scope="module")
def minio_stack(tmp_path_factory):
    binary = minio_binary()
    root = tmp_path_factory.mktemp("minio-stack")
    nats_port = free_port()
    nats_password = natsauth.credentials(root / "data" / "secrets")["minio"]  # the stack's NATS will take it
    minio = MinioServer(binary, root / "minio", f"127.0.0.1:{nats_port}", nats_user="minio",
                        nats_password=nats_password).start()
    try:
        base = Settings(_env_file=None, data_dir=root / "data", nats={"port": nats_port}, api={"port": free_port()})
        settings = minio.settings(base)
        env = {"TFLOW_SWEEP_INTERVAL_SECONDS": "0"}  # only notifications may create jobs here
        with running_stack(settings, services=("ingest", "projector"), extra_env=env,
                           service_logs=root / "logs") as (resolved, _, _):
            client = store.make_client(resolved)
            store.configure_notifications(client, resolved.s3.bucket)
            yield resolved, client
    finally:
        minio.stop()


async def test_put_into_minio_becomes_a_job_through_its_notification(minio_stack):
    settings, client = minio_stack
    pool: asyncpg.Pool = await create_pool(settings.database.url or "")
    try:
        src = media("valid/friday_640x480_speech_h264_aac.mp4")
        key = "raw/Via MinIO+notification.mp4"
        started = time.monotonic()
        ref = store.upload_file(client, settings.s3.bucket, key, src)
        job = await job_by_key(pool, key, timeout=30)
        latency = time.monotonic() - started
        assert job["origin"] == "bucket" and job["status"] in ACCEPTED
        assert job["source_etag"] == ref.etag and (job["width"], job["height"]) == (640, 480)
        print(f"MinIO PUT -> job row: {latency * 1000:.0f} ms")
        # not under raw/: no job
        store.upload_file(client, settings.s3.bucket, "elsewhere/x.mp4", src)
        ref2 = store.upload_file(client, settings.s3.bucket, "raw/second.mp4", src)
        await job_by_key(pool, "raw/second.mp4")
        assert await pool.fetchval("SELECT count(*) FROM jobs WHERE source_key = 'elsewhere/x.mp4'") == 0
        assert ref2.etag == ref.etag  # same content, other key: other job
        assert await pool.fetchval("SELECT count(DISTINCT id) FROM jobs") == 2
    finally:
        await pool.close()
