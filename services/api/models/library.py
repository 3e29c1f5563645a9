"""Answers of the routes the web UI reads: the live job list, search inside videos, a
job's transcript and its timeline of facts. Seconds everywhere."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from services.api.models.base import Model
from services.api.models.jobs import JobList

__all__ = ["TaskProgress", "JobsUpdate", "SearchMoment", "SearchHit", "SearchResults", "TranscriptWord",
           "TranscriptSegment", "Transcript", "TimelineEntry", "Timeline"]


class TaskProgress(Model):
    """One task of a listed job: PRD name, our name, status, percent, ETA seconds."""

    name: str
    task: str
    status: str
    progress_percent: float
    eta_seconds: float | None


class JobsUpdate(JobList):
    """One event of `GET /api/v1/jobs/stream`: the page of the list as it is now, and the
    tasks of each job on it (by job id)."""

    tasks: dict[str, list[TaskProgress]]


class SearchMoment(Model):
    """A matching transcript line: where it is (seconds), its text, and `headline` with
    the matched words in `<b>…</b>` (the line's text is the only markup source)."""

    start_seconds: float
    end_seconds: float
    text: str
    headline: str


class SearchHit(Model):
    """A job that matches: its best rank, whether its user metadata matched, its moments."""

    job_id: str
    filename: str | None
    status: str
    duration_seconds: float | None
    rank: float
    metadata_match: bool
    moments: list[SearchMoment]


class SearchResults(Model):
    """`GET /api/v1/search`: jobs matched (`total`), one page of them, best first."""

    query: str
    total: int
    limit: int
    offset: int
    results: list[SearchHit]


class TranscriptWord(Model):
    """A word with its times (seconds) and Whisper's probability (0..1)."""

    start: float
    end: float
    word: str
    probability: float | None = None


class TranscriptSegment(Model):
    """A transcribed segment (seconds) with its words."""

    start: float
    end: float
    text: str
    words: list[TranscriptWord] = Field(default_factory=list)


class Transcript(Model):
    """A job's transcript (its `transcript.json`): language, model, segments with words."""

    job_id: str
    language: str | None
    language_probability: float | None
    model: str | None
    duration: float | None
    word_count: int | None
    segments: list[TranscriptSegment]


class TimelineEntry(Model):
    """One fact of the job (progress facts aside): stream sequence, time, type, task, summary."""

    seq: int
    at: datetime
    type: str
    task: str | None
    summary: str


class Timeline(Model):
    """A job's facts in the order they happened."""

    job_id: str
    facts: list[TimelineEntry]
