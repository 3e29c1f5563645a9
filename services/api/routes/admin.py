"""Admin routes: API keys (create, list, revoke, rotate); facts the projector set aside;
dead letters (list, re-drive); replays."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Query, Response
from fastapi import Path as ApiPath
from pydantic import BaseModel, Field

from readmodel import keys
from readmodel import projection as pstore
from services.api.auth import Admin
from services.api.deps import FactsDep, JetStreamDep, PoolDep
from services.api.errors import ApiError
from services.api.guards import SafeText
from tflow.deadletters import list_dead_letters, redrive
from tflow.replay import NoSuchJob, ReplayRefused, request_replay

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


class KeyCreate(BaseModel):
    """A new key: its name, hourly request limit (PRD default 100) and scopes."""

    name: Annotated[SafeText, Field(min_length=1, max_length=200, examples=["encoder-farm"])]
    rate_limit_per_hour: Annotated[int, Field(ge=1, le=1_000_000, examples=[100])] = 100
    scopes: list[keys.Scope] = Field(default_factory=lambda: list(keys.DEFAULT_SCOPES),
                                     examples=[["jobs:read", "jobs:write"]])


def key_view(row: asyncpg.Record) -> dict[str, Any]:
    """A key without its secret."""
    return {"id": str(row["id"]), "name": row["name"], "key_prefix": row["key_prefix"], "scopes": list(row["scopes"]),
            "rate_limit_per_hour": row["rate_limit_per_hour"], "is_active": row["is_active"],
            "created_at": row["created_at"].isoformat(),
            "last_used_at": row["last_used_at"].isoformat() if row["last_used_at"] else None,
            "revoked_at": row["revoked_at"].isoformat() if row["revoked_at"] else None}


@router.post("/api-keys", status_code=201, summary="Create an API key (the secret is shown once)")
async def create_key(body: KeyCreate, _: Admin, pool: PoolDep) -> dict[str, Any]:
    row, secret = await keys.create(pool, name=body.name, rate_limit_per_hour=body.rate_limit_per_hour,
                                    scopes=tuple(dict.fromkeys(body.scopes)))
    return {**key_view(row), "key": secret, "webhook_secret": row["webhook_secret"]}


@router.get("/api-keys", summary="List API keys")
async def list_keys(_: Admin, pool: PoolDep) -> dict[str, Any]:
    return {"api_keys": [key_view(r) for r in await keys.list_all(pool)]}


@router.delete("/api-keys/{key_id}", status_code=204, summary="Revoke an API key")
async def revoke_key(key_id: uuid.UUID, _: Admin, pool: PoolDep) -> Response:
    if not await keys.revoke(pool, key_id=key_id):
        raise ApiError(404, "not_found", f"API key {key_id} does not exist")
    return Response(status_code=204)


@router.post("/api-keys/{key_id}/rotate", summary="Rotate: a new secret; the old one stops working")
async def rotate_key(key_id: uuid.UUID, _: Admin, pool: PoolDep) -> dict[str, Any]:
    secret = await keys.rotate(pool, key_id=key_id)
    if secret is None:
        raise ApiError(404, "not_found", f"no active API key {key_id}")
    return {"id": str(key_id), "key": secret, "key_prefix": secret[:8]}


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
