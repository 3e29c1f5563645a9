"""Facts recorded from schema version 1 (the landed code, before typed task results)
stay readable: every one decodes, every task completion gets its typed result with
nothing lost, and the projection of the recorded stream is what readers expect.

`fixtures/jobs_stream_v1.jsonl` is the JOBS stream of eight real jobs of an earlier
`make test` run (a 1080p MOV with a custom thumbnail, 720p ladders, transcripts, a
rejected file, a cancelled job), one `{"subject", "data"}` per line in stream order."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from contracts import (
    CustomThumbnailResult,
    HlsResult,
    MetadataResult,
    Mp3Result,
    TaskCompleted,
    ThumbnailsResult,
    TranscriptResult,
    VideoResult,
    decode_job_event,
    encode,
    subject_for,
)
from readmodel.documents import download_key, job_view, locator
from services.api.models import JobDocument
from services.projector.fold import apply

RECORDED = [json.loads(line) for line in (Path(__file__).parent / "fixtures" / "jobs_stream_v1.jsonl")
            .read_text().splitlines()]
EXPECTED = {"video_360p": VideoResult, "video_720p": VideoResult, "hls_360p": HlsResult, "hls_720p": HlsResult,
            "thumbnails": ThumbnailsResult, "thumbnail_custom": CustomThumbnailResult, "audio_mp3": Mp3Result,
            "transcription": TranscriptResult, "metadata": MetadataResult}


def test_the_recording_is_schema_1_and_covers_every_task_type():
    assert {r["data"]["v"] for r in RECORDED} == {1}
    tasks = {r["data"]["task"] for r in RECORDED if r["data"]["type"] == "task_completed"}
    assert tasks == set(EXPECTED)


@pytest.mark.parametrize("record", [r for r in RECORDED if r["data"]["type"] == "task_completed"],
                         ids=lambda r: r["subject"].split(".", 2)[2])
def test_v1_completions_decode_to_typed_results_losslessly(record):
    event = decode_job_event(json.dumps(record["data"]).encode())
    # schema 1 had no priority bands: the fact decodes with the default priority, 5
    assert isinstance(event, TaskCompleted) and event.priority == 5
    assert subject_for(event) == record["subject"] + ".p05"
    assert isinstance(event.result, EXPECTED[event.task])
    typed = msgspec.to_builtins(event.result)
    typed.pop("type")
    old = record["data"]["details"]
    assert {k: v for k, v in typed.items() if k in old} == old  # every v1 detail survives
    assert set(old) >= {k for k, v in typed.items() if v is not None and k not in ("psnr_db", "ssim")}
    again = decode_job_event(encode(event))  # re-encoded: schema 2, same result, no legacy field
    assert again.result == event.result and b'"details"' not in encode(event)


def test_every_recorded_fact_decodes_and_folds_into_complete_documents():
    states: dict = {}
    for seq, record in enumerate(RECORDED, 1):
        event = decode_job_event(json.dumps(record["data"]).encode())
        states[event.job_id] = apply(states.get(event.job_id), event, seq)
    completed = [s for s in states.values() if s is not None and s.job.status == "completed"]
    assert len(completed) >= 4
    for state in completed:
        tasks = [msgspec.structs.asdict(t) for t in state.tasks.values()]
        job = job_view(msgspec.structs.asdict(state.job), tasks, locator("videos", lambda k: f"http://cdn/{k}"))
        JobDocument.model_validate(job)  # the PRD document, exactly as its model says
        doc = job["outputs"]
        assert doc["master_playlist"]["key"] == f"processed/{state.job.id}/master.m3u8"
        assert doc["360p"]["streaming"]["segment_count"] >= 1 and doc["360p"]["streaming"]["hls_url"].startswith("http")
        assert doc["360p"]["video"]["minio_path"] == f"videos/processed/{state.job.id}/360p/video_360p.mp4"
        assert [t["position_percent"] for t in doc["thumbnails"]["auto_generated"]] == [0, 25, 50, 75, 100]
        assert doc["metadata_json"]["key"].endswith("metadata.json")
        assert job["compression"]["360p_ratio"] > 1 and job["processing_time_seconds"] > 0
        assert {t["name"] for t in job["tasks"]} >= {"validate_video", "transcode_360p", "prepare_hls_360p",
                                                     "generate_thumbnail", "generate_metadata"}
        assert download_key(state.job.id, "hls_360p", tasks) == f"processed/{state.job.id}/360p/segments/playlist.m3u8"
    languages = {s.job.transcription_language for s in completed}
    assert "en" in languages  # the transcript facts set the job's language through the typed result
