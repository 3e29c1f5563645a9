"""The projector's Postgres side: load job states, upsert them, move the checkpoint."""

from __future__ import annotations

from typing import Any

import asyncpg

from services.projector.fold import JOB_COLUMNS, TASK_COLUMNS, JobRow, JobState, TaskRow

PROJECTION = "jobs"


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


async def load_states(conn: asyncpg.Connection, job_ids: list[str]) -> dict[str, JobState]:
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


async def save_states(conn: asyncpg.Connection, states: list[JobState], last_seq: int) -> None:
    """Upsert jobs and tasks and set the checkpoint, inside the caller's transaction."""
    if states:
        await conn.executemany(UPSERT_JOB, [tuple(getattr(s.job, c) for c in JOB_COLUMNS) for s in states])
        task_rows = [tuple(getattr(t, c) for c in TASK_COLUMNS) for s in states for t in s.tasks.values()]
        if task_rows:
            await conn.executemany(UPSERT_TASK, task_rows)
    await conn.execute(
        "UPDATE projector_checkpoint SET last_seq = $2, updated_at = now() WHERE projection = $1", PROJECTION, last_seq
    )


async def reset(conn: asyncpg.Connection) -> None:
    """Drop the read model's rows and rewind the checkpoint to 0 (one transaction)."""
    async with conn.transaction():
        await lock_checkpoint(conn)
        await conn.execute("TRUNCATE tasks, jobs")
        await conn.execute("UPDATE projector_checkpoint SET last_seq = 0, updated_at = now() WHERE projection = $1",
                           PROJECTION)
