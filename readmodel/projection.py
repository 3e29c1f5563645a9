"""The projector's SQL: load job states, upsert them with the `job_counts` deltas, and
move the checkpoint, all in the caller's transaction; reset for a rebuild."""

from __future__ import annotations

import base64
from typing import Any

import asyncpg

from readmodel.rows import JOB_COLUMNS, TASK_COLUMNS, JobRow, JobState, TaskRow

PROJECTION = "jobs"
#: `job_counts` key of jobs submitted without an API key.
NO_KEY = "00000000-0000-0000-0000-000000000000"


def count_deltas(before: dict[str, tuple[str, str | None]], after: list[JobState]) -> dict[tuple[str, str], int]:
    """Changes to `job_counts` from jobs' (status, api_key_id) before and after a batch (pure)."""
    deltas: dict[tuple[str, str], int] = {}
    for state in after:
        job = state.job
        old = before.get(job.id)
        new = (job.api_key_id or NO_KEY, job.status)
        if old is not None:
            old_key = (old[1] or NO_KEY, old[0])
            if old_key == new:
                continue
            deltas[old_key] = deltas.get(old_key, 0) - 1
        deltas[new] = deltas.get(new, 0) + 1
    return {k: v for k, v in deltas.items() if v}


def _upsert_sql(table: str, columns: tuple[str, ...], key: tuple[str, ...]) -> str:
    cols = ", ".join(columns)
    params = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in key)
    return f"INSERT INTO {table} ({cols}) VALUES ({params}) ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"


UPSERT_JOB = _upsert_sql("jobs", JOB_COLUMNS, ("id",))
UPSERT_TASK = _upsert_sql("tasks", TASK_COLUMNS, ("job_id", "name"))


def _row(record: asyncpg.Record) -> dict[str, Any]:
    d = dict(record)
    for k in ("id", "job_id", "api_key_id"):
        if d.get(k) is not None:
            d[k] = str(d[k])
    return d


async def lock_checkpoint(conn: asyncpg.Connection) -> int:
    """Lock the checkpoint row for this transaction and return the last applied sequence."""
    return await conn.fetchval("SELECT last_seq FROM projector_checkpoint WHERE projection = $1 FOR UPDATE", PROJECTION)


async def read_checkpoint(conn: asyncpg.Connection | asyncpg.Pool) -> int:
    """The last applied JOBS stream sequence (0 = nothing applied)."""
    return await conn.fetchval("SELECT last_seq FROM projector_checkpoint WHERE projection = $1", PROJECTION)


async def load_states(conn: asyncpg.Connection, *, job_ids: list[str]) -> dict[str, JobState]:
    """Current state of the given jobs (absent jobs are absent from the result)."""
    states: dict[str, JobState] = {}
    for r in await conn.fetch("SELECT * FROM jobs WHERE id = ANY($1::uuid[])", job_ids):
        job = JobRow(**_row(r))
        states[job.id] = JobState(job, {})
    for r in await conn.fetch("SELECT * FROM tasks WHERE job_id = ANY($1::uuid[])", job_ids):
        t = TaskRow(**_row(r))
        if t.job_id in states:
            states[t.job_id].tasks[t.name] = t
    return states


async def save_states(conn: asyncpg.Connection, *, states: list[JobState], last_seq: int,
                      before: dict[str, tuple[str, str | None]] | None = None) -> None:
    """Upsert jobs and tasks, apply the `job_counts` deltas against `before` (each job's
    (status, api_key_id) at the start of the batch) and set the checkpoint, inside the
    caller's transaction."""
    deltas = count_deltas(before or {}, states)
    if deltas:
        await conn.executemany(
            "INSERT INTO job_counts (api_key_id, status, n) VALUES ($1, $2, $3) "
            "ON CONFLICT (api_key_id, status) DO UPDATE SET n = job_counts.n + EXCLUDED.n",
            [(k, st, n) for (k, st), n in deltas.items()])
    if states:
        await conn.executemany(UPSERT_JOB, [tuple(getattr(s.job, c) for c in JOB_COLUMNS) for s in states])
        task_rows = [tuple(getattr(t, c) for c in TASK_COLUMNS) for s in states for t in s.tasks.values()]
        if task_rows:
            await conn.executemany(UPSERT_TASK, task_rows)
    await conn.execute(
        "UPDATE projector_checkpoint SET last_seq = $2, updated_at = now() WHERE projection = $1", PROJECTION, last_seq
    )


async def set_aside(conn: asyncpg.Connection, *, seq: int, subject: str, job_id: str | None, error: str,
                    data: bytes) -> bool:
    """Record a fact that cannot be applied and move the checkpoint past it, in one
    transaction. False when the checkpoint is already at or past `seq` (another replica
    got there first)."""
    async with conn.transaction():
        if await lock_checkpoint(conn) >= seq:
            return False
        await record_failure(conn, seq=seq, subject=subject, job_id=job_id, error=error, data=data)
        await conn.execute("UPDATE projector_checkpoint SET last_seq = $2, updated_at = now() WHERE projection = $1",
                           PROJECTION, seq)
    return True


async def record_failure(conn: asyncpg.Connection, *, seq: int, subject: str, job_id: str | None, error: str,
                         data: bytes) -> None:
    """Record one fact that is not applied (in the caller's transaction)."""
    await conn.execute(
        "INSERT INTO projection_failures (stream_seq, subject, job_id, error, data_base64) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (stream_seq) DO NOTHING",
        seq, subject, job_id, error[:4000], base64.b64encode(data).decode())


async def failures(conn: asyncpg.Connection | asyncpg.Pool, *, limit: int = 100) -> list[dict[str, Any]]:
    """The set-aside facts, newest first: seq, subject, job_id, error, data (base64), failed_at."""
    rows = await conn.fetch("SELECT * FROM projection_failures ORDER BY stream_seq DESC LIMIT $1", limit)
    return [dict(r) for r in rows]


async def failure_count(conn: asyncpg.Connection | asyncpg.Pool) -> int:
    """How many facts have been set aside."""
    n: int = await conn.fetchval("SELECT count(*) FROM projection_failures")
    return n


async def checkpoint_age(conn: asyncpg.Connection | asyncpg.Pool) -> tuple[int, float]:
    """`(last_seq, seconds since the checkpoint last moved)`."""
    row = await conn.fetchrow("SELECT last_seq, extract(epoch FROM now() - updated_at) AS age "
                              "FROM projector_checkpoint WHERE projection = $1", PROJECTION)
    return int(row["last_seq"]), float(row["age"])


async def reset(conn: asyncpg.Connection) -> None:
    """Drop the read model's rows and rewind the checkpoint to 0 (one transaction)."""
    async with conn.transaction():
        await lock_checkpoint(conn)
        await conn.execute("TRUNCATE tasks, jobs, job_counts, projection_failures, transcript_lines, transcript_docs, "
                           "job_facts")
        await conn.execute("UPDATE projector_checkpoint SET last_seq = 0, updated_at = now() WHERE projection = $1",
                           PROJECTION)
