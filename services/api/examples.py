"""Example answers for every route, merged into the generated OpenAPI document (one
table here instead of examples scattered over the decorators)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from fastapi import FastAPI

from contracts import AudioInfo, Probe
from media.probe import video_info
from readmodel.documents import job_view, locator
from readmodel.rows import JobRow, TaskRow
from runtime.settings import Settings
from services.api.verdict import validation_document

JOB_ID = "39bb87a3-439b-5fbe-977a-ca66ba13d2c4"
KEY_ID = "6b0f2c1e-9d2a-4c1b-8f37-3c0e5a1d9b42"
ERROR = {"error": {"code": "not_found", "message": f"job {JOB_ID} does not exist", "details": None}}
_T0 = datetime(2026, 11, 22, 3, 15, 5, tzinfo=UTC)
_BASE = f"processed/{JOB_ID}"


def _sample_job() -> dict:
    """A job two seconds into its 720p encode, with its 360p MP4 done: the example of the
    job document, built by the same function that answers (`job_view`)."""
    job = JobRow(id=JOB_ID, status="processing", origin="api", source_bucket="videos", source_key="raw/lecture.mov",
                 source_etag="2d2eb7f2…", original_filename="lecture.mov", file_size_bytes=1874097,
                 container="mov,mp4,m4a,3gp,3g2,mj2", duration_seconds=2.0, bitrate=7496388, video_codec="h264",
                 width=1920, height=1080, display_width=1920, display_height=1080, fps=50.0, rotation=0,
                 audio_codec="aac", audio_bitrate=128000, audio_sample_rate=48000, audio_channels=2,
                 user_metadata={"title": "Lecture 1", "category": "education"}, progress_percent=42.5,
                 current_task="video_720p", created_at=_T0, updated_at=_T0 + timedelta(seconds=3),
                 started_at=_T0 + timedelta(seconds=1))
    done = TaskRow(job_id=JOB_ID, name="video_360p", kind="transcode", rendition="360p", status="completed",
                   progress_percent=100.0, attempts=1, processing_seconds=1.4, started_at=_T0 + timedelta(seconds=1),
                   completed_at=_T0 + timedelta(seconds=2.4), updated_at=_T0 + timedelta(seconds=2.4),
                   outputs=[{"key": f"{_BASE}/360p/video_360p.mp4", "size_bytes": 98304, "kind": "mp4", "width": 640,
                             "height": 360, "bitrate": 393216, "duration_seconds": 2.0, "compression_ratio": 19.06,
                             "sample_rate": 44100}],
                   details={"type": "video", "rendition": "360p", "codecs": "avc1.4d401f", "frame_rate": 50.0,
                            "profile": "main", "level": "3.1", "crf": 23, "psnr_db": 41.2, "ssim": 0.981})
    running = TaskRow(job_id=JOB_ID, name="video_720p", kind="transcode", rendition="720p", status="processing",
                      progress_percent=61.0, speed=0.9, eta_seconds=1.2, attempts=1,
                      started_at=_T0 + timedelta(seconds=1), updated_at=_T0 + timedelta(seconds=3))
    rows: list[Mapping[str, Any]] = [msgspec.structs.asdict(t) for t in (done, running)]
    return job_view(msgspec.structs.asdict(job), rows, locator("videos", lambda key: f"https://media.example/{key}"))


JOB = _sample_job()


def _sample_validation() -> dict:
    """The validation answer of the same 1080p50 QuickTime file, from the function that answers."""
    probe = Probe(container="mov,mp4,m4a,3gp,3g2,mj2", duration_seconds=2.0, size_bytes=1874097, bitrate=7496388,
                  video=video_info(codec="h264", width=1920, height=1080, fps=50.0, pixel_format="yuv420p"),
                  audio=AudioInfo(codec="aac", bitrate=128000, sample_rate=48000, channels=2))
    return validation_document("lecture.mov", 1874097, Settings(_env_file=None), probe=probe)


VALIDATION = _sample_validation()
JOB_SUMMARY = {k: v for k, v in JOB.items() if k not in ("tasks", "eta_seconds", "retry_count", "quality_metrics")}
KEY = {"id": KEY_ID, "name": "encoder-farm", "key_prefix": "tf_Q2x9a", "scopes": ["jobs:read", "jobs:write"],
       "rate_limit_per_hour": 100, "rate_limit_per_minute": None, "storage_quota_bytes": None, "is_active": True,
       "created_at": "2026-11-22T04:00:00+00:00", "last_used_at": None, "revoked_at": None}
WARNING = "Save this key securely - it won't be shown again"
ACCEPTED = {"job_id": JOB_ID, "status": "pending", "message": "Job queued successfully",
            "created_at": "2026-11-22T03:15:05+00:00", "priority": 5, "filename": "lecture.mov",
            "status_url": f"/api/v1/jobs/{JOB_ID}",
            "source": {"bucket": "videos", "key": "raw/lecture.mov", "size_bytes": 1874097}}
PROGRESS = {"job_id": JOB_ID, "status": "processing", "progress": 42.5, "progress_percent": 42.5,
            "current_task": "transcode_720p", "error": None,
            "tasks": [{"name": "transcode_720p", "task": "video_720p", "status": "running", "progress_percent": 61.0,
                       "eta_seconds": 1.2}]}
HEALTH = {"status": "healthy", "services": {"database": "up", "nats": "up", "storage": "up", "projector": "up",
                                            "workers": "6/6 active", "disk": "ok"},
          "timestamp": "2026-12-01T09:00:00+00:00", "reasons": [],
          "projector": {"status": "ok", "stream_last_seq": 812, "checkpoint": 812, "lag": 0,
                        "checkpoint_age_seconds": 1.2, "set_aside": 0}}
STREAMING = {"playlist_url": f"http://127.0.0.1:8000/api/v1/stream/{JOB_ID}/1764582000.Zx8…/360p/segments/"
                             "playlist.m3u8", "token": "1764582000.Zx8…", "expires_at": "2026-12-01T10:00:00+00:00",
             "job_id": JOB_ID, "resolution": "360p"}
DOWNLOAD = {"download_url": "http://127.0.0.1:8333/videos/processed/…?X-Amz-Signature=…",
            "expires_at": "2026-12-01T09:15:00+00:00", "file_type": "720p",
            "key": f"{_BASE}/720p/video_720p.mp4", "expires_in_seconds": 900}
USAGE = {"key_id": KEY_ID, "requests": 1204, "jobs": 31, "bytes": 1874097000, "quota_bytes": 10737418240,
         "remaining_bytes": 8863321240, "rate_limit_per_hour": 100, "rate_limit_per_minute": 100,
         "days": [{"day": "2026-12-01", "requests": 1204, "jobs": 31, "bytes_uploaded": 1874097000,
                   "bytes_deleted": 0}]}
STATS = {"total_jobs": 3, "pending": 0, "validating": 0, "processing": 1, "completed": 1, "failed": 1, "cancelled": 0,
         "total_input_tb": 4.1e-06, "total_output_tb": 1.2e-06, "avg_processing_time_minutes": 0.12,
         "worker_utilization_percent": 16.7,
         "by_status": {"pending": 0, "validating": 0, "processing": 1, "completed": 1, "failed": 1, "cancelled": 0,
                       "deleted": 0},
         "last_24h": {"created": 3, "completed": 1, "failed": 1}, "processing_seconds": {"average": 7.2, "p95": 7.2},
         "source": {"bytes": 4119839, "seconds": 9.3}, "total_output_bytes": 1204224}
DELETED = {"message": "Job deleted", "job_id": JOB_ID, "status": "deleted", "was_cancelled": False,
           "deleted_objects": 27, "original_deleted": False}
CANCELLED = {"message": "Job cancelled successfully", "job_id": JOB_ID, "status": "cancelled"}

#: (method, path) -> (success status, example body).
EXAMPLES: dict[tuple[str, str], tuple[str, object]] = {
    ("get", "/health"): ("200", HEALTH),
    ("get", "/health/detailed"): ("200", {"status": "healthy", "timestamp": "2026-12-01T09:00:00+00:00", "components": {
        "db": {"latency_ms": 0.6, "status": "ok"}, "nats": {"latency_ms": 1.1, "status": "ok",
                                                           "jobs_stream_messages": 812},
        "storage": {"latency_ms": 2.3, "status": "ok", "bucket": "videos"}}}),
    ("get", "/metrics"): ("200", "# HELP api_requests_total API requests by endpoint and status.\n"),
    ("get", "/"): ("307", None),
    ("get", "/api/v1/jobs/stream"): ("200", "event: jobs\ndata: " + json.dumps({
        "total": 1, "limit": 50, "offset": 0, "page": 1, "per_page": 50, "pages": 1, "jobs": ["…"],
        "tasks": {JOB_ID: [{"name": "transcode_720p", "task": "video_720p", "status": "running",
                            "progress_percent": 40.0, "eta_seconds": 3.1}]}}) + "\n\n"),
    ("get", "/api/v1/search"): ("200", {"query": "bread", "total": 1, "limit": 20, "offset": 0, "results": [{
        "job_id": JOB_ID, "filename": "lecture.mov", "status": "completed", "duration_seconds": 62.2, "rank": 0.1,
        "metadata_match": False, "moments": [{"start_seconds": 12.4, "end_seconds": 15.9,
                                              "text": "and the bread was warm", "headline": "and the <b>bread</b> "
                                              "was warm"}]}]}),
    ("get", "/api/v1/jobs/{job_id}/transcript"): ("200", {
        "job_id": JOB_ID, "language": "en", "language_probability": 0.98, "model": "base", "duration": 62.2,
        "word_count": 2, "segments": [{"start": 0.0, "end": 1.2, "text": "Hello there.", "words": [
            {"start": 0.0, "end": 0.5, "word": " Hello", "probability": 0.97},
            {"start": 0.5, "end": 1.2, "word": " there.", "probability": 0.93}]}]}),
    ("get", "/api/v1/jobs/{job_id}/timeline"): ("200", {"job_id": JOB_ID, "facts": [
        {"seq": 812, "at": "2026-11-22T03:15:05Z", "type": "ingested", "task": None,
         "summary": "valid source: 9 tasks planned"},
        {"seq": 815, "at": "2026-11-22T03:15:09Z", "type": "task_completed", "task": "video_360p",
         "summary": "2 outputs in 3.20s"}]}),
    ("get", "/api/v1/jobs"): ("200", {"total": 1, "limit": 50, "offset": 0, "page": 1, "per_page": 50, "pages": 1,
                                      "jobs": [JOB_SUMMARY]}),
    ("get", "/api/v1/jobs/{job_id}"): ("200", JOB),
    ("delete", "/api/v1/jobs/{job_id}"): ("200", CANCELLED),
    ("post", "/api/v1/jobs/{job_id}/cancel"): ("200", CANCELLED),
    ("post", "/api/v1/jobs/{job_id}/delete"): ("200", DELETED),
    ("get", "/api/v1/jobs/{job_id}/events"): ("200", f"event: progress\ndata: {json.dumps(PROGRESS)}\n\n"),
    ("get", "/api/v1/jobs/{job_id}/download/{file_type}"): ("200", DOWNLOAD),
    ("get", "/api/v1/streaming/token/{job_id}/{resolution}"): ("200", STREAMING),
    ("post", "/api/v1/jobs/upload"): ("202", ACCEPTED),
    ("post", "/api/v1/jobs/minio"): ("202", ACCEPTED),
    ("post", "/api/v1/jobs/validate"): ("200", VALIDATION),
    ("post", "/api/v1/jobs/validate/minio"): ("200", VALIDATION),
    ("post", "/api/v1/jobs/validate/filesystem"): ("200", VALIDATION),
    ("post", "/api/v1/jobs/filesystem"): ("202", ACCEPTED),
    ("get", "/api/v1/stats"): ("200", STATS),
    ("get", "/api/v1/health/{component}"): ("200", {"status": "ok", "latency_ms": 0.41}),
    ("post", "/api/v1/admin/api-keys"): ("201", {**KEY, "api_key": "tf_Q2x9a…", "warning": WARNING,
                                                 "webhook_secret": "whsec_…"}),
    ("get", "/api/v1/admin/api-keys"): ("200", {"api_keys": [KEY]}),
    ("delete", "/api/v1/admin/api-keys/{key_id}"): ("204", None),
    ("post", "/api/v1/admin/api-keys/{key_id}/rotate"): ("200", {"id": KEY_ID, "api_key": "tf_Zr8…",
                                                                  "key_prefix": "tf_Zr8kp", "warning": WARNING}),
    ("get", "/api/v1/admin/api-keys/{key_id}/usage"): ("200", USAGE),
    ("get", "/api/v1/admin/projection-failures"): ("200", {"total": 1, "facts": [{
        "stream_seq": 4711, "subject": f"jobs.{JOB_ID}.received", "job_id": JOB_ID,
        "error": "UntranslatableCharacterError: unsupported Unicode escape sequence",
        "data_base64": "eyJ0eXBlIjoicmVjZWl2ZWQiLC4uLn0=", "failed_at": "2026-12-01T09:00:00+00:00"}]}),
    ("get", "/api/v1/admin/dead-letters"): ("200", {"total": 1, "dead_letters": [{
        "id": 42, "at": "2026-12-01T09:00:00Z", "kind": "max_deliveries", "stream": "JOBS", "consumer": "transcoder",
        "stream_seq": 4711, "deliveries": 8, "reason": None, "subject": f"jobs.{JOB_ID}.ingested.p05",
        "job_id": JOB_ID}]}),
    ("post", "/api/v1/admin/dead-letters/{letter_id}/retry"): ("202", {
        "id": 42, "done": f"job {JOB_ID}: replay epoch 2 of video_360p, video_720p, hls_360p, hls_720p, metadata"}),
    ("post", "/api/v1/admin/jobs/{job_id}/replay"): ("202", {"job_id": JOB_ID, "epoch": 2,
                                                            "tasks": ["transcription", "metadata"]}),
    ("get", "/api/v1/stream/{job_id}/{token}/{path}"): ("200", "#EXTM3U\n#EXT-X-VERSION:6\n#EXTINF:6.0,\n"
                                                             "http://127.0.0.1:8333/videos/processed/…/segment_000.ts"
                                                             "?X-Amz-Signature=…\n"),
    ("head", "/api/v1/stream/{job_id}/{token}/{path}"): ("200", ""),
}

#: The user guide's routes -> their canonical route (same handler, same example).
GUIDE = {
    ("post", "/api/upload"): ("post", "/api/v1/jobs/upload"),
    ("get", "/api/jobs"): ("get", "/api/v1/jobs"),
    ("get", "/api/jobs/{job_id}"): ("get", "/api/v1/jobs/{job_id}"),
    ("delete", "/api/jobs/{job_id}"): ("post", "/api/v1/jobs/{job_id}/delete"),
    ("post", "/api/jobs/{job_id}/cancel"): ("post", "/api/v1/jobs/{job_id}/cancel"),
    ("get", "/api/jobs/{job_id}/download/{file_type}"): ("get", "/api/v1/jobs/{job_id}/download/{file_type}"),
    ("get", "/api/events/{job_id}/progress"): ("get", "/api/v1/jobs/{job_id}/events"),
    ("get", "/api/streaming/token/{job_id}/{resolution}"): ("get", "/api/v1/streaming/token/{job_id}/{resolution}"),
    ("post", "/api-keys/"): ("post", "/api/v1/admin/api-keys"),
    ("get", "/api-keys/"): ("get", "/api/v1/admin/api-keys"),
    ("delete", "/api-keys/{key_id}"): ("delete", "/api/v1/admin/api-keys/{key_id}"),
    ("get", "/api-keys/{key_id}/usage"): ("get", "/api/v1/admin/api-keys/{key_id}/usage"),
}
EXAMPLES.update({short: EXAMPLES[canonical] for short, canonical in GUIDE.items()})


def install(app: FastAPI) -> None:
    """Wrap `app.openapi` so every operation carries its success example and the shared
    error shape as the example of its 4xx answers."""
    base = app.openapi

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = base()
        for path, ops in schema["paths"].items():
            for method, op in ops.items():
                status, example = EXAMPLES.get((method, path), (None, None))
                responses = op.setdefault("responses", {})
                if status is not None:
                    resp = responses.setdefault(status, {"description": "Success"})
                    if example is not None:
                        media = "text/plain" if isinstance(example, str) else "application/json"
                        resp.setdefault("content", {}).setdefault(media, {})["example"] = example
                    for other in [s for s in responses if s.startswith("2") and s != status]:
                        responses.pop(other)
                responses.setdefault("4XX", {"description": "Error (one shape everywhere)",
                                             "content": {"application/json": {"example": ERROR}}})
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customise the schema
