"""The API's queries over `jobs` and `tasks` (read only: the projector writes them).

`owner` is the API key whose jobs the caller may see; None means every job (the admin
key). Every function is keyword-only past the connection, so a call reads as a query.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any, Literal, TypeAlias

import asyncpg

from readmodel.rows import JOB_COLUMNS

#: A pool or one connection (asyncpg has no type hints: both are `Any` to mypy).
Db: TypeAlias = Any
Sort = Literal["created_at", "completed_at", "priority"]
Order = Literal["asc", "desc"]

#: Columns of the list view: everything but the large JSONB documents (probe, plan, outputs).
LIST_COLUMNS = ", ".join(c for c in JOB_COLUMNS if c not in ("probe", "plan", "outputs"))
SORTS: dict[str, str] = {"created_at": "created_at", "completed_at": "completed_at", "priority": "priority"}


def order_by(sort: Sort, order: Order) -> str:
    """ORDER BY matching the list indexes exactly (`*_list_indexes.sql`): the column,
    then id, same direction; jobs not completed sort after completed ones."""
    col = SORTS[sort]
    nulls = (" NULLS LAST" if order == "desc" else " NULLS FIRST") if col == "completed_at" else ""
    return f"{col} {order.upper()}{nulls}, id {order.upper()}"


async def fetch_job(db: Db, *, job_id: uuid.UUID, owner: uuid.UUID | None) -> asyncpg.Record | None:
    """The job's row, or None when it does not exist or belongs to another key."""
    if owner is None:
        return await db.fetchrow("SELECT * FROM jobs WHERE id = $1", job_id)
    return await db.fetchrow("SELECT * FROM jobs WHERE id = $1 AND api_key_id = $2", job_id, owner)


async def wait_for_status(db: Db, *, job_id: uuid.UUID, status: str, timeout: float,
                          interval: float = 0.05) -> bool:
    """Wait until the projector has folded the job into `status` (read-your-writes after
    the API published a fact); True when it has, False after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while await db.fetchval("SELECT status FROM jobs WHERE id = $1", job_id) != status:
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(interval)
    return True


async def fetch_tasks(db: Db, *, job_id: uuid.UUID, completed_only: bool = False) -> list[asyncpg.Record]:
    """The job's task rows, started ones first in start order, then by name."""
    where = " AND status = 'completed'" if completed_only else ""
    return await db.fetch(f"SELECT * FROM tasks WHERE job_id = $1{where} ORDER BY started_at NULLS LAST, name",
                          job_id)


async def list_jobs(db: asyncpg.Pool, *, owner: uuid.UUID | None, status: str | None,
                    metadata: dict[str, Any] | None, sort: Sort, order: Order, limit: int,
                    offset: int) -> tuple[int, list[asyncpg.Record]]:
    """`(total, page)`: the jobs (deleted ones only when `status` asks for them) matching
    `status`, `owner` and a user-metadata containment filter (`@>`, through the GIN index), sorted and paged. Without a
    metadata filter the total is exact and O(1), from `job_counts` (kept by the projector
    in the same transaction as the rows)."""
    conds: list[str] = []
    args: list[Any] = []
    for column, value in (("status", status), ("api_key_id", owner)):
        if value is not None:
            args.append(value)
            conds.append(f"{column} = ${len(args)}")
    if status is None:
        conds.append("status <> 'deleted'")
    if metadata is not None:
        args.append(metadata)
        conds.append(f"user_metadata @> ${len(args)}::jsonb")
    where = f"WHERE {' AND '.join(conds)}" if conds else ""
    # job_counts has the same status/api_key_id columns as jobs, so `where` fits both
    counted = "count(*) FROM jobs" if metadata is not None else "coalesce(sum(n), 0)::bigint FROM job_counts"
    total, rows = await asyncio.gather(
        db.fetchval(f"SELECT {counted} {where}", *args),
        db.fetch(f"SELECT {LIST_COLUMNS} FROM jobs {where} ORDER BY {order_by(sort, order)} "
                 f"LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}", *args, limit, offset))
    return total, rows


async def count_jobs(db: Db) -> int:
    """Every job row (e.g. after a rebuild)."""
    n: int = await db.fetchval("SELECT count(*) FROM jobs")
    return n


async def fetch_progress(db: Db, *, job_id: uuid.UUID) -> tuple[asyncpg.Record | None, list[asyncpg.Record]]:
    """What a live progress event shows: the job's status/progress/error columns and each
    task's name, status, progress and ETA (by name)."""
    row = await db.fetchrow("SELECT status, progress_percent, current_task, error_code, error_message "
                            "FROM jobs WHERE id = $1", job_id)
    tasks = await db.fetch("SELECT name, status, progress_percent, eta_seconds FROM tasks "
                           "WHERE job_id = $1 ORDER BY name", job_id)
    return row, tasks


async def fetch_stats(db: Db, *, owner: uuid.UUID | None) -> tuple[dict[str, int], asyncpg.Record]:
    """`(jobs by status, figures)`: counts in the last 24 h, processing seconds (mean and
    p95 of completed jobs, landing to completion), source bytes and seconds, bytes of
    every finished output (`output_bytes`)."""
    cond, args = ("", []) if owner is None else ("WHERE api_key_id = $1", [owner])
    by_status = {r["status"]: r["n"] for r in await db.fetch(
        f"SELECT status, count(*) AS n FROM jobs {cond} GROUP BY status", *args)}
    row = await db.fetchrow(
        f"""SELECT count(*) FILTER (WHERE created_at > now() - interval '24 hours') AS created_24h,
                   count(*) FILTER (WHERE status = 'completed' AND completed_at > now() - interval '24 hours')
                       AS completed_24h,
                   count(*) FILTER (WHERE status = 'failed' AND completed_at > now() - interval '24 hours')
                       AS failed_24h,
                   avg(extract(epoch FROM completed_at - created_at)) FILTER (WHERE status = 'completed')
                       AS avg_processing_seconds,
                   percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - created_at))
                       FILTER (WHERE status = 'completed') AS p95_processing_seconds,
                   coalesce(sum(file_size_bytes), 0) AS source_bytes,
                   coalesce(sum(duration_seconds), 0) AS source_seconds,
                   (SELECT coalesce(sum((o ->> 'size_bytes')::bigint), 0) FROM tasks t
                    JOIN jobs tj ON tj.id = t.job_id, jsonb_array_elements(t.outputs) o
                    WHERE t.status = 'completed' {cond.replace("WHERE", "AND").replace("api_key_id", "tj.api_key_id")})
                   + (SELECT coalesce(sum((t.details ->> 'segments_size_bytes')::bigint), 0) FROM tasks t
                    JOIN jobs tj ON tj.id = t.job_id
                    WHERE t.status = 'completed' {cond.replace("WHERE", "AND").replace("api_key_id", "tj.api_key_id")})
                       AS output_bytes
            FROM jobs {cond}""", *args)
    return by_status, row


async def count_stalled_tasks(db: Db, *, quiet_seconds: float) -> int:
    """Tasks `processing` whose last fact (progress included) is older than `quiet_seconds`:
    a worker that stopped reporting (the `TaskStalled` alert)."""
    return int(await db.fetchval(
        "SELECT count(*) FROM tasks WHERE status = 'processing' AND updated_at < now() - make_interval(secs => $1)",
        float(quiet_seconds)))


async def fetch_tasks_waiting_on(db: Db, *, code: str, limit: int = 20) -> list[asyncpg.Record]:
    """Tasks of unfinished jobs waiting on a retry of failure `code` (e.g. `disk_full`):
    `job_id`, `name`, `worker`, `error_message`, newest first, at most `limit`."""
    return list(await db.fetch(
        "SELECT t.job_id, t.name, t.worker, t.error_message FROM tasks t JOIN jobs j ON j.id = t.job_id "
        "WHERE t.error_code = $1 AND t.status = 'pending' AND j.status IN ('pending', 'validating', 'processing') "
        "ORDER BY t.updated_at DESC LIMIT $2", code, limit))


async def fetch_finished_before(db: Db, *, statuses: tuple[str, ...], before: datetime, limit: int,
                                origin: str | None = None) -> list[asyncpg.Record]:
    """Jobs in `statuses` that finished (`completed_at`, else their last change) before
    `before`, oldest first, at most `limit`: `id`, `status`, `source_key`, `origin`. With
    `origin`, only jobs of that origin whose original is still there (retention)."""
    return list(await db.fetch(
        "SELECT id, status, source_key, origin FROM jobs WHERE status = ANY($1::text[]) "
        "AND coalesce(completed_at, updated_at) < $2 AND ($4::text IS NULL OR (origin = $4 "
        "AND original_removed_at IS NULL)) ORDER BY coalesce(completed_at, updated_at) LIMIT $3",
        list(statuses), before, limit, origin))


async def fetch_task_progress(db: Db, *, job_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    """Name, status, percent and ETA of every task of `job_ids` (a list page's live bars)."""
    return list(await db.fetch("SELECT job_id, name, status, progress_percent, eta_seconds FROM tasks "
                               "WHERE job_id = ANY($1::uuid[]) ORDER BY job_id, name", job_ids))
