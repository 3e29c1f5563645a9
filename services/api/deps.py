"""What routes depend on, as `Annotated` FastAPI dependencies: settings, the database
pool, JetStream, the object store client and the facts publisher (and `ResourcesDep`
for all of them, e.g. the health checks). The lifespan
(`app.py`) opens them once into one `Resources`; nothing else reads `app.state`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Annotated

import asyncpg
from fastapi import Depends, Request
from minio import Minio
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from runtime.settings import Settings
from runtime.worker.facts import JetStreamFacts
from services.api.errors import ApiError


@dataclass(frozen=True)
class Resources:
    """Everything the API's lifespan opened: settings, the SHA-256 of the admin key,
    the Postgres pool, the NATS connection and its JetStream context, the store client."""

    settings: Settings
    admin_key_hash: str
    pool: asyncpg.Pool
    nc: NATS
    js: JetStreamContext
    client: Minio
    #: Signs the URLs handed to clients (`store.make_presigner`: `TFLOW_S3_PUBLIC_URL`).
    presigner: Minio
    #: Work an answer started and left running (held here so it is not collected).
    background: set[asyncio.Task[None]] = field(default_factory=set)

    def later(self, work: Awaitable[None]) -> None:
        """Run `work` after the answer; it is cancelled when the API stops."""
        task = asyncio.ensure_future(work)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    @property
    def facts(self) -> JetStreamFacts:
        """Job facts published by the API (e.g. `cancelled`)."""
        return JetStreamFacts(self.js, "api")


def resources(request: Request) -> Resources:
    """The app's `Resources` (set by the lifespan)."""
    found: Resources = request.app.state.resources
    return found


ResourcesDep = Annotated[Resources, Depends(resources)]


def _settings(r: ResourcesDep) -> Settings:
    return r.settings


def _pool(r: ResourcesDep) -> asyncpg.Pool:
    return r.pool


def _js(r: ResourcesDep) -> JetStreamContext:
    if not r.nc.is_connected:
        raise ApiError(503, "events_unavailable", "not connected to NATS (it is restarting or away), retry",
                       headers={"Retry-After": "1"})
    return r.js


def _client(r: ResourcesDep) -> Minio:
    return r.client


def _presigner(r: ResourcesDep) -> Minio:
    return r.presigner


def _facts(r: ResourcesDep) -> JetStreamFacts:
    _js(r)
    return r.facts


SettingsDep = Annotated[Settings, Depends(_settings)]
PoolDep = Annotated[asyncpg.Pool, Depends(_pool)]
JetStreamDep = Annotated[JetStreamContext, Depends(_js)]
StoreDep = Annotated[Minio, Depends(_client)]
PresignDep = Annotated[Minio, Depends(_presigner)]
FactsDep = Annotated[JetStreamFacts, Depends(_facts)]
