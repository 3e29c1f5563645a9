"""Pure parts of search inside videos: transcript facts cut into parts, their subjects and
ids, the language -> text search configuration rule, timeline lines, the transcriber's
permission to publish them."""

from __future__ import annotations

from datetime import UTC, datetime

from contracts import (
    TRANSCRIPT_PART_BYTES,
    TaskFailed,
    TaskProgress,
    TranscriptLine,
    TranscriptText,
    decode_job_event,
    encode,
    msg_id_for,
    subject_for,
    transcript_parts,
)
from ops import natsauth
from readmodel.search import text_config
from services.projector import fold

JOB = "1f491943-a612-582f-be4b-1c42aa5d48f8"
AT = datetime(2026, 12, 1, tzinfo=UTC)


def test_a_long_transcript_is_cut_into_parts_below_the_message_limit():
    lines = [TranscriptLine(i * 2.0, i * 2.0 + 1.5, "word " * 40) for i in range(4000)]  # ~800 KB of text
    parts = transcript_parts(JOB, AT, "en", lines, epoch=2)
    assert len(parts) == 4 and [p.part for p in parts] == [0, 1, 2, 3] and {p.parts for p in parts} == {4}
    assert [line for p in parts for line in p.lines] == lines  # nothing lost, order kept
    assert all(len(encode(p)) < 1 << 20 for p in parts)  # JOBS' max_msg_size
    assert all(sum(len(x.text) for x in p.lines) <= TRANSCRIPT_PART_BYTES for p in parts)
    assert decode_job_event(encode(parts[1])) == parts[1]
    assert subject_for(parts[1]) == f"jobs.{JOB}.transcript_text.transcription"
    assert msg_id_for(parts[1]) == f"{JOB}.transcript_text.1.e2" and msg_id_for(parts[0]) != msg_id_for(parts[1])
    silent = transcript_parts(JOB, AT, "en", [])
    assert len(silent) == 1 and silent[0].lines == [] and silent[0].parts == 1


def test_languages_map_to_postgres_text_search_configurations():
    assert (text_config("en"), text_config("fr"), text_config("pt-BR"), text_config("xx"), text_config(None)) == \
        ("english", "french", "portuguese", "simple", "simple")


def test_timeline_lines_leave_progress_out():
    assert fold.timeline_entry(TaskProgress(job_id=JOB, at=AT, task="video_360p", percent=5)) is None
    failed = TaskFailed(job_id=JOB, at=AT, task="video_360p", code="ffmpeg_failed", message="boom", permanent=False,
                        retry_in_seconds=10)
    assert fold.timeline_entry(failed) == ("task_failed", "video_360p", "ffmpeg_failed: boom (retry in 10s)")
    text = TranscriptText(job_id=JOB, at=AT, language="en", lines=[TranscriptLine(0, 1, "hi")])
    assert fold.timeline_entry(text) == ("transcript_text", "transcription", "part 1/1: 1 lines (en)")
    assert fold.apply(None, text, 7) is None  # nothing to attach to


def test_only_the_transcriber_publishes_transcript_text():
    subject = "jobs.*.transcript_text.transcription"
    allowed = {name for name, role in natsauth.ROLES.items()
               if subject in natsauth.permissions(role, name)["publish"]["allow"]}
    assert allowed == {"transcriber"}
