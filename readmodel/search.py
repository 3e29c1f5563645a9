"""Search inside videos and the job timeline: the read model's full-text side.

The projector stores every transcribed line (`transcript_text` facts) in
`transcript_lines`, whose `tsv` holds its words stemmed in the transcript's language and
as they are, and each job's whole transcript as one document in `transcript_docs`.
`search` ranks jobs by their document with PostgreSQL full-text search
(`websearch_to_tsquery` syntax: words, "quoted phrases", -exclusions, or), the user
metadata's values searched too, and gives the best lines of the jobs on the page.
`job_facts` keeps a line per fact (progress aside) for the job page's timeline.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from contracts import TranscriptText
from readmodel.jobs import Db

#: Whisper's ISO 639-1 codes -> PostgreSQL's built-in text search configurations.
LANGUAGE_CONFIGS = {
    "ar": "arabic", "ca": "catalan", "da": "danish", "de": "german", "el": "greek", "en": "english",
    "es": "spanish", "eu": "basque", "fi": "finnish", "fr": "french", "ga": "irish", "hi": "hindi",
    "hu": "hungarian", "hy": "armenian", "id": "indonesian", "it": "italian", "lt": "lithuanian", "ne": "nepali",
    "nl": "dutch", "no": "norwegian", "pt": "portuguese", "ro": "romanian", "ru": "russian", "sr": "serbian",
    "sv": "swedish", "ta": "tamil", "tr": "turkish", "yi": "yiddish",
}
#: Line numbers of part n start at n * PART_STRIDE (a part holds far fewer lines).
PART_STRIDE = 1_000_000
#: Lines shown per job in a search answer.
MOMENTS_PER_JOB = 5


def text_config(language: str | None) -> str:
    """The text search configuration of a transcript language (`simple` when unknown)."""
    return LANGUAGE_CONFIGS.get((language or "").lower()[:2], "simple")


def _query_sql(param: str, languages: set[str]) -> str:
    """A tsquery matching `param` as plain words, or stemmed in each of `languages` (text
    search configurations; only the known ones are used)."""
    known = set(LANGUAGE_CONFIGS.values())
    configs = ["simple", *sorted(c for c in languages if c in known)]
    return " || ".join(f"websearch_to_tsquery('{c}'::regconfig, {param})" for c in configs)


async def languages_in_use(db: Db) -> set[str]:
    """The text search configurations of the transcripts stored (a handful, by index)."""
    return {r["config"] for r in await db.fetch("SELECT DISTINCT config::text AS config FROM transcript_docs")}


async def save_transcript(conn: asyncpg.Connection, event: TranscriptText) -> None:
    """Store one part of a job's transcript; part 0 first removes the job's earlier lines."""
    job_id = uuid.UUID(event.job_id)
    if event.part == 0:
        await conn.execute("DELETE FROM transcript_lines WHERE job_id = $1", job_id)
    config = text_config(event.language)
    await conn.executemany(
        "INSERT INTO transcript_lines (job_id, line, start_seconds, end_seconds, text, language, config) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7::regconfig) ON CONFLICT (job_id, line) DO UPDATE SET "
        "start_seconds = EXCLUDED.start_seconds, end_seconds = EXCLUDED.end_seconds, text = EXCLUDED.text, "
        "language = EXCLUDED.language, config = EXCLUDED.config",
        [(job_id, event.part * PART_STRIDE + i, line.start, line.end, line.text, event.language, config)
         for i, line in enumerate(event.lines) if line.text])
    # the job's whole transcript as one document, to rank jobs by
    await conn.execute(
        "INSERT INTO transcript_docs (job_id, config, tsv) "
        "SELECT $1, $2::regconfig, to_tsvector($2::regconfig, coalesce(string_agg(text, ' ' ORDER BY line), '')) "
        "|| to_tsvector('simple'::regconfig, coalesce(string_agg(text, ' ' ORDER BY line), '')) "
        "FROM transcript_lines WHERE job_id = $1 "
        "ON CONFLICT (job_id) DO UPDATE SET config = EXCLUDED.config, tsv = EXCLUDED.tsv", job_id, config)


async def save_facts(conn: asyncpg.Connection, rows: Sequence[tuple[uuid.UUID, int, datetime, str, str | None, str]]
                     ) -> None:
    """Store timeline rows `(job_id, seq, at, type, task, summary)` (a fact applied twice: once)."""
    if rows:
        await conn.executemany("INSERT INTO job_facts (job_id, seq, at, type, task, summary) "
                               "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING", rows)


async def fetch_timeline(db: Db, *, job_id: uuid.UUID, limit: int = 1000) -> list[asyncpg.Record]:
    """A job's facts in stream order (at most `limit`)."""
    return list(await db.fetch("SELECT seq, at, type, task, summary FROM job_facts WHERE job_id = $1 "
                               "ORDER BY seq LIMIT $2", job_id, limit))


async def search(db: Db, *, q: str, owner: uuid.UUID | None, limit: int, offset: int = 0
                 ) -> tuple[int, list[dict[str, Any]]]:
    """`(jobs matched, page)`: jobs whose transcript or user metadata match `q`, best
    first (the rank of the whole transcript; a metadata match counts as rank 1), each with
    up to `MOMENTS_PER_JOB` matching lines (start/end seconds, text, `headline` with the
    matched words in `<b>`). Only the jobs of `owner` (None: every job); deleted jobs never."""
    # inline (not a CTE column), so the GIN indexes serve it; only the languages present
    query = _query_sql("$1", await languages_in_use(db))
    rows = await db.fetch(f"""
        WITH hits AS (
            SELECT d.job_id, ts_rank(d.tsv, {query}) AS rank, false AS from_meta
              FROM transcript_docs d WHERE d.tsv @@ ({query})
            UNION ALL
            SELECT j.id, 1.0, true FROM jobs j
             WHERE jsonb_to_tsvector('simple'::regconfig, j.user_metadata, '["string", "numeric"]') @@ ({query})),
        best AS (SELECT job_id, max(rank) AS rank, bool_or(from_meta) AS metadata_match FROM hits GROUP BY job_id),
        visible AS (
            SELECT b.*, j.original_filename, j.status, j.duration_seconds, count(*) OVER () AS total
              FROM best b JOIN jobs j ON j.id = b.job_id
             WHERE j.status <> 'deleted' AND ($2::uuid IS NULL OR j.api_key_id = $2)
             ORDER BY b.rank DESC, b.job_id LIMIT $3 OFFSET $4)
        SELECT v.*, (SELECT coalesce(jsonb_agg(jsonb_build_object(
                        'start_seconds', m.start_seconds, 'end_seconds', m.end_seconds, 'text', m.text,
                        'headline', ts_headline(m.config, m.text, {query}, 'StartSel=<b>, StopSel=</b>'))
                        ORDER BY m.rank DESC, m.line), '[]'::jsonb)
                       FROM (SELECT l.*, ts_rank(l.tsv, {query}) AS rank
                               -- the job's own lines by its key, then matched: OFFSET 0 keeps the
                               -- planner from intersecting with the word's lines of every job
                               FROM (SELECT * FROM transcript_lines WHERE job_id = v.job_id OFFSET 0) l
                              WHERE l.tsv @@ ({query})
                              ORDER BY rank DESC, l.line LIMIT {MOMENTS_PER_JOB}) m) AS moments
          FROM visible v ORDER BY v.rank DESC, v.job_id""", q, owner, limit, offset)
    total = int(rows[0]["total"]) if rows else 0
    return total, [dict(r) for r in rows]
