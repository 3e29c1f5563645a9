"""The API's own record of what it accepted (`submissions`): **not job state**.

Job state has one writer, the projector, folding facts into `jobs` and `tasks`
(DESIGN.md). Between the API's 202 and the projector folding ingest's first fact (a
second at most, usually) a job has no row yet; so that the `Location` the API answered
with does not 404, the API records each accepted upload here and, while `jobs` has no
row for it, answers from this record alone (`pending_job`). Nothing here is written
from facts, nothing in `jobs` is written from here, and a rebuild of the read model
from the stream leaves this table alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import asyncpg
import msgspec

from readmodel.jobs import Db
from readmodel.rows import JobRow


async def record_submission(db: Db, *, job_id: uuid.UUID, key_id: uuid.UUID | None, bucket: str, key: str,
                            size: int, priority: int) -> None:
    """Record an upload the API accepted as `job_id` (`size` bytes at `bucket`/`key`, for
    API key `key_id`, None for the admin); a second record of the same job is ignored."""
    await db.execute("INSERT INTO submissions (job_id, api_key_id, source_bucket, source_key, size_bytes, priority) "
                     "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (job_id) DO NOTHING",
                     job_id, key_id, bucket, key, size, priority)


async def fetch_submission(db: Db, *, job_id: uuid.UUID, owner: uuid.UUID | None) -> asyncpg.Record | None:
    """What the API accepted as `job_id` (for `owner`; any for None), or None."""
    if owner is None:
        return await db.fetchrow("SELECT * FROM submissions WHERE job_id = $1", job_id)
    return await db.fetchrow("SELECT * FROM submissions WHERE job_id = $1 AND api_key_id = $2", job_id, owner)


def pending_job(sub: Mapping[str, Any]) -> dict[str, Any]:
    """The answer for a submission the projector has not seen yet: a `pending` job of
    origin `api` with what the API knew when it answered 202 (a `JobRow`'s fields)."""
    return msgspec.structs.asdict(JobRow(
        id=str(sub["job_id"]), status="pending", origin="api", source_bucket=sub["source_bucket"],
        source_key=sub["source_key"], source_etag="", original_filename=sub["source_key"].rsplit("/", 1)[-1],
        file_size_bytes=sub["size_bytes"], priority=sub["priority"],
        api_key_id=str(sub["api_key_id"]) if sub["api_key_id"] else None, created_at=sub["created_at"],
        updated_at=sub["created_at"]))
