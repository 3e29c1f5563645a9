"""Admin routes: API keys (create, list, revoke, rotate); facts the projector set aside;
dead letters (list, re-drive); replays."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Query, Response
from fastapi import Path as ApiPath
from pydantic import BaseModel, Field

from readmodel import keys
from readmodel import projection as pstore
from runtime.worker.deadletters import list_dead_letters, redrive
from runtime.worker.replay import NoSuchJob, ReplayRefused, request_replay
from services.api.auth import Admin
from services.api.deps import FactsDep, JetStreamDep, PoolDep
from services.api.errors import ApiError
from services.api.guards import SafeText
from services.api.models import KeyCreated, KeyList, KeyRotated, KeyUsage, KeyView, UsageDay

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


#: The user guide's key routes (`/api-keys/...`): the same handlers.
guide = APIRouter(prefix="/api-keys", tags=["user guide"])
WARNING = "Save this key securely - it won't be shown again"


def default_scopes() -> list[keys.AnyScope]:
    """Scopes of a key created without any: read and submit jobs."""
    return ["jobs:read", "jobs:write"]


class KeyCreate(BaseModel):
    """A new key: its name, request limit per hour (PRD, default 100) or per minute (user
    guide; counted per minute when given), scopes (ours or the user guide's `read`,
    `write`, `admin`) and an optional storage quota in bytes of originals."""

    name: Annotated[SafeText, Field(min_length=1, max_length=200, examples=["encoder-farm"])]
    rate_limit_per_hour: Annotated[int, Field(ge=1, le=1_000_000, examples=[100])] = 100
    rate_limit_per_minute: Annotated[int | None, Field(ge=1, le=100_000, examples=[100])] = None
    scopes: list[keys.AnyScope] = Field(default_factory=default_scopes, max_length=5,
                                        examples=[["read", "write"]])
    storage_quota_bytes: Annotated[int | None, Field(ge=1, le=2**62, examples=[10 * 2**30])] = None


def key_view(row: asyncpg.Record) -> KeyView:
    """A key without its secret."""
    return KeyView(id=str(row["id"]), name=row["name"], key_prefix=row["key_prefix"], scopes=list(row["scopes"]),
                   rate_limit_per_hour=row["rate_limit_per_hour"], rate_limit_per_minute=row["rate_limit_per_minute"],
                   storage_quota_bytes=row["storage_quota_bytes"], is_active=row["is_active"],
                   created_at=row["created_at"], last_used_at=row["last_used_at"], revoked_at=row["revoked_at"])


@router.post("/api-keys", status_code=201, summary="Create an API key (the secret is shown once, as `api_key`)")
@guide.post("/", status_code=201, summary="Create an API key (user guide; as POST /api/v1/admin/api-keys)")
async def create_key(body: KeyCreate, _: Admin, pool: PoolDep) -> KeyCreated:
    row, secret = await keys.create(pool, name=body.name, rate_limit_per_hour=body.rate_limit_per_hour,
                                    scopes=keys.canonical_scopes(list(body.scopes)),
                                    rate_limit_per_minute=body.rate_limit_per_minute,
                                    storage_quota_bytes=body.storage_quota_bytes)
    return KeyCreated(**key_view(row).model_dump(), api_key=secret, warning=WARNING,
                      webhook_secret=row["webhook_secret"])


@router.get("/api-keys", summary="List API keys")
@guide.get("/", summary="List API keys (user guide)")
async def list_keys(_: Admin, pool: PoolDep) -> KeyList:
    return KeyList(api_keys=[key_view(r) for r in await keys.list_all(pool)])


@router.delete("/api-keys/{key_id}", status_code=204, summary="Revoke an API key", response_class=Response)
@guide.delete("/{key_id}", status_code=204, summary="Revoke an API key (user guide)", response_class=Response)
async def revoke_key(key_id: uuid.UUID, _: Admin, pool: PoolDep) -> Response:
    if not await keys.revoke(pool, key_id=key_id):
        raise ApiError(404, "not_found", f"API key {key_id} does not exist")
    return Response(status_code=204)


@router.post("/api-keys/{key_id}/rotate", summary="Rotate: a new secret; the old one stops working")
async def rotate_key(key_id: uuid.UUID, _: Admin, pool: PoolDep) -> KeyRotated:
    secret = await keys.rotate(pool, key_id=key_id)
    if secret is None:
        raise ApiError(404, "not_found", f"no active API key {key_id}")
    return KeyRotated(id=str(key_id), api_key=secret, key_prefix=secret[:8], warning=WARNING)


@router.get("/api-keys/{key_id}/usage", summary="A key's use: requests, jobs, stored bytes, quota, per day")
@guide.get("/{key_id}/usage", summary="A key's use (user guide)")
async def key_usage(key_id: uuid.UUID, _: Admin, pool: PoolDep) -> KeyUsage:
    row = next((r for r in await keys.list_all(pool) if r["id"] == key_id), None)
    if row is None:
        raise ApiError(404, "not_found", f"API key {key_id} does not exist")
    days = await keys.usage(pool, key_id=key_id)
    stored = await keys.stored_bytes(pool, key_id=key_id)
    quota = row["storage_quota_bytes"]
    return KeyUsage(key_id=str(key_id), requests=sum(d["requests"] for d in days),
                    jobs=sum(d["jobs_submitted"] for d in days), bytes=stored, quota_bytes=quota,
                    remaining_bytes=max(0, quota - stored) if quota is not None else None,
                    rate_limit_per_hour=row["rate_limit_per_hour"], rate_limit_per_minute=row["rate_limit_per_minute"],
                    days=[UsageDay(day=d["day"].isoformat(), requests=d["requests"], jobs=d["jobs_submitted"],
                                   bytes_uploaded=d["bytes_uploaded"], bytes_deleted=d["bytes_deleted"])
                          for d in days])


class SetAsideFact(BaseModel):
    """A fact the projector could not apply (recorded instead of blocking the read model)."""

    stream_seq: int = Field(description="Its sequence in the JOBS stream")
    subject: str
    job_id: uuid.UUID | None
    error: str = Field(description="Why it could not be applied")
    data_base64: str = Field(description="The message body, base64")
    failed_at: datetime


class SetAsideFacts(BaseModel):
    """The set-aside facts, newest first."""

    total: int
    facts: list[SetAsideFact]


@router.get("/projection-failures", summary="Facts the projector set aside (newest first)")
async def projection_failures(_: Admin, pool: PoolDep,
                              limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> SetAsideFacts:
    rows = await pstore.failures(pool, limit=limit)
    return SetAsideFacts(total=await pstore.failure_count(pool), facts=[SetAsideFact(**r) for r in rows])


class DeadLetterView(BaseModel):
    """One dead letter: its id (DLQ sequence), when and why JetStream gave up on the
    message (`max_deliveries`: never acknowledged; `terminated`: a worker gave up), which
    consumer, the original's stream sequence and subject (None once it left its stream)."""

    id: int
    at: datetime
    kind: str
    stream: str
    consumer: str
    stream_seq: int
    deliveries: int
    reason: str | None
    subject: str | None
    job_id: str | None


class DeadLetters(BaseModel):
    """How many dead letters DLQ keeps, and the newest ones (newest first)."""

    total: int
    dead_letters: list[DeadLetterView]


class Redriven(BaseModel):
    """What re-driving a dead letter did."""

    id: int
    done: str


class ReplayRequest(BaseModel):
    """Which tasks to re-run (none: the whole job) and options for them from now on."""

    tasks: list[Annotated[SafeText, Field(max_length=100)]] | None = Field(None, max_length=64,
                                                                           examples=[["transcription"]])
    whisper_model: Annotated[SafeText, Field(max_length=50)] | None = Field(None, examples=["base"])
    transcription_language: Annotated[SafeText, Field(max_length=10)] | None = Field(None, examples=["en"])
    reason: Annotated[SafeText, Field(max_length=500)] = "replay"


class ReplayStarted(BaseModel):
    """The replay's epoch and the tasks it re-runs."""

    job_id: str
    epoch: int
    tasks: list[str]


@router.get("/dead-letters", summary="Messages JetStream gave up on (DLQ stream), newest first")
async def dead_letters(_: Admin, js: JetStreamDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> DeadLetters:
    total, letters = await list_dead_letters(js, limit)
    return DeadLetters(total=total, dead_letters=[DeadLetterView(
        id=d.seq, at=d.at, kind=d.advisory.kind, stream=d.advisory.stream, consumer=d.advisory.consumer,
        stream_seq=d.advisory.stream_seq, deliveries=d.advisory.deliveries, reason=d.advisory.reason,
        subject=d.subject, job_id=d.job_id) for d in letters])


@router.post("/dead-letters/{letter_id}/retry", status_code=202,
             summary="Re-drive a dead letter: a replay of its job's unfinished tasks, or its object announced again")
async def retry_dead_letter(letter_id: Annotated[int, ApiPath(ge=1, le=2**63 - 1, description="DLQ sequence")],
                            who: Admin, js: JetStreamDep, facts: FactsDep) -> Redriven:
    try:
        done = await redrive(js, facts, letter_id, by=str(who.id) if who.id else "admin")
    except LookupError as e:
        raise ApiError(404, "not_found", str(e)) from e
    except ReplayRefused as e:
        raise ApiError(409, "conflict", str(e)) from e
    return Redriven(id=letter_id, done=done)


@router.post("/jobs/{job_id}/replay", status_code=202,
             summary="Re-run a job, or some of its tasks, through the normal consumers as a new epoch")
async def replay_job(job_id: uuid.UUID, body: ReplayRequest, who: Admin, facts: FactsDep) -> ReplayStarted:
    options = {k: v for k, v in (("whisper_model", body.whisper_model),
                                 ("transcription_language", body.transcription_language)) if v is not None}
    try:
        fact = await request_replay(facts, str(job_id), body.tasks, options, reason=body.reason,
                                    by=str(who.id) if who.id else "admin")
    except NoSuchJob as e:
        raise ApiError(404, "not_found", str(e)) from e
    except ReplayRefused as e:
        raise ApiError(409, "conflict", str(e)) from e
    return ReplayStarted(job_id=fact.job_id, epoch=fact.epoch, tasks=fact.tasks)
