"""One real stack per test session: NATS (JetStream) and PostgreSQL from their wheels, MinIO
(built by `make minio`, its bucket events on NATS), on random loopback ports in a temp dir,
plus the services as real processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
import pytest_asyncio
from fastapi.testclient import TestClient
from minio import Minio

from ops.processes import Supervisor
from ops.stack import EmbeddedStack, free_port, loopback_settings, running_stack, wait_for_http
from readmodel.db import UNAVAILABLE, create_pool
from runtime.jetstream.connection import connect
from runtime.settings import Settings
from runtime.storage import store
from runtime.worker.facts import MemoryFacts
from services import SERVICES
from services.api import deps as api_deps
from services.api.app import create_app

# many stacks share this host during a session: each service's /metrics on a free port
os.environ.setdefault("TFLOW_METRICS_PORT_BASE", "0")

#: Settings the services run with in tests (short settle and sweep periods).
TEST_ENV = {"TFLOW_INBOX_SETTLE_SECONDS": "0.3", "TFLOW_SWEEP_INTERVAL_SECONDS": "2",
            "TFLOW_SWEEP_GRACE_SECONDS": "1", "TFLOW_LOG_LEVEL": "INFO",
            "TFLOW_PROJECTOR_STALL_SECONDS": "3",
            "TFLOW_RETRY_DELAYS_SECONDS": "[2, 5, 10]", "TFLOW_API_ACCESS_LOG": "true"}


@dataclass
class Stack:
    settings: Settings
    sup: Supervisor
    servers: EmbeddedStack
    logs: Path
    webhook_port: int = 0

    @property
    def api_url(self) -> str:
        return f"http://{self.settings.api.host}:{self.settings.api.port}"

    @property
    def admin_key(self) -> str:
        key = self.settings.admin_key_value()
        assert key
        return key

    @property
    def fs_root(self) -> Path:
        return self.logs.parent / "fsroot"

    @property
    def work_dir(self) -> Path:
        return self.logs.parent / "work"

    @property
    def inbox(self) -> Path:
        return self.settings.inbox_dir

    def client(self) -> Minio:
        return store.make_client(self.settings)

    def api(self, key: str | None = "admin") -> httpx.Client:
        headers = {} if key is None else {"X-API-Key": self.admin_key if key == "admin" else key}
        return httpx.Client(base_url=self.api_url, headers=headers, timeout=10)

    def drop(self, src: Path, name: str) -> Path:
        """Copy a file into the inbox as `name` (as a user would: written in place)."""
        dest = self.inbox / name
        shutil.copyfile(src, dest)
        return dest

    def wait_filed(self, name: str, timeout: float = 30) -> str:
        """Wait until the dropped `name` lands in done/ or failed/; returns which."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for folder in ("done", "failed"):
                if (self.inbox / folder / name).exists():
                    return folder
            time.sleep(0.05)
        raise AssertionError(f"{name} was not filed within {timeout}s; service logs in {self.logs}")


@contextlib.contextmanager
def started_stack(root: Path, services: tuple[str, ...] = SERVICES,
                  extra_env: dict[str, str] | None = None, supervise: bool = False) -> Iterator[Stack]:
    """Real servers and `services` as processes under `root`, on random loopback ports,
    with `extra_env` on top of the test settings; ready once the API answers. With
    `supervise`, whatever dies is restarted as under `tflow up`."""
    settings = loopback_settings(root / "data")
    logs = root / "service-logs"
    (root / "fsroot").mkdir()
    webhook_port = free_port()
    env = {**TEST_ENV, "TFLOW_WORK_DIR": str(root / "work"), "TFLOW_FS_ROOTS": f'["{root / "fsroot"}"]',
           "TFLOW_WEBHOOK_ALLOWED_HOSTS": f'["127.0.0.1:{webhook_port}"]', "TFLOW_WEBHOOK_BACKOFF_SECONDS": "0.5",
           **(extra_env or {})}
    with running_stack(settings, services, extra_env=env, service_logs=logs, supervise=supervise) as (
            resolved, sup, servers):
        wait_for_http(f"http://{resolved.api.host}:{resolved.api.port}/health", 60)
        yield Stack(resolved, sup, servers, logs, webhook_port)


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Iterator[Stack]:
    """The session's stack: every service."""
    with started_stack(tmp_path_factory.mktemp("stack")) as s:
        yield s


@pytest_asyncio.fixture(scope="session")
async def pool(stack: Stack) -> asyncpg.Pool:
    p = await create_pool(stack.settings.database.url or "")
    yield p
    await p.close()


@pytest_asyncio.fixture(scope="session")
async def js(stack: Stack):
    nc = await connect(stack.settings, "tests")
    yield nc.jetstream()
    await nc.close()


async def wait_for(probe: Callable[[], Awaitable[object]], timeout: float = 30, what: str = "condition") -> object:
    """Poll `probe` every 20 ms until it returns something truthy; fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = await probe()
        except UNAVAILABLE:
            value = None  # a server restart under test: the pool hands out a new connection next
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


#: Every status after validation: the job was ingested (or rejected).
PAST_INGEST = ("pending", "processing", "completed", "failed")
#: Accepted by ingest (whatever the workers have done since).
ACCEPTED = ("pending", "processing", "completed")


async def job_by_key(pool: asyncpg.Pool, key: str, statuses: tuple[str, ...] = PAST_INGEST,
                     timeout: float = 30) -> asyncpg.Record:
    """The job row of `raw/<key>` once it reaches one of `statuses`."""
    async def probe():
        return await pool.fetchrow("SELECT * FROM jobs WHERE source_key = $1 AND status = ANY($2)", key,
                                   list(statuses))
    return await wait_for(probe, timeout, f"job of {key} in {statuses}")


async def discard(stack: Stack, job_id) -> None:
    """Cancel a job whose outputs the test does not need (frees the workers for the tests
    that do). A job already terminal answers 409, which is fine here."""
    for _ in range(20):  # a 503 right after a database restart is retried
        r = await asyncio.to_thread(stack.api().delete, f"/api/v1/jobs/{job_id}")
        if r.status_code != 503:
            break
        await asyncio.sleep(0.25)
    assert r.status_code in (200, 409), r.text


@pytest.fixture(scope="session")
def app_client(stack: Stack) -> Iterator[TestClient]:
    """The in-process API tier: the app itself (FastAPI's `TestClient`, no uvicorn, no
    port) on the session's real Postgres, NATS and store, with the facts it publishes kept
    in memory (`MemoryFacts`, what the handler tests use), as the admin. For route-level
    checks (status codes, error codes, scopes, validation) that need no service to react."""
    app = create_app(stack.settings)
    facts = MemoryFacts()
    app.dependency_overrides[api_deps._facts] = lambda: facts
    with TestClient(app, headers={"X-API-Key": stack.admin_key}) as client:
        client.facts = facts  # type: ignore[attr-defined]
        yield client
