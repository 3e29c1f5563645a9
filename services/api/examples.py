"""Example answers for every route, merged into the generated OpenAPI document (one
table here instead of examples scattered over the decorators)."""

from __future__ import annotations

from fastapi import FastAPI

JOB_ID = "39bb87a3-439b-5fbe-977a-ca66ba13d2c4"
ERROR = {"error": {"code": "not_found", "message": f"job {JOB_ID} does not exist", "details": None}}
JOB_SUMMARY = {
    "job_id": JOB_ID, "status": "processing", "progress_percent": 42.5, "current_task": "video_720p", "priority": 5,
    "source": {"origin": "api", "bucket": "videos", "key": "raw/lecture.mov", "etag": "2d2eb7f2…",
               "original_filename": "lecture.mov", "file_size_bytes": 1874097},
    "video_info": {"container": "mov,mp4,m4a,3gp,3g2,mj2", "duration_seconds": 2.0, "codec": "h264", "width": 1920,
                   "height": 1080, "fps": 50.0, "rotation": 0, "audio_codec": "pcm_s16le"},
    "transcription": {"language": None, "model": None, "word_count": None},
    "user_metadata": {"category": "education"}, "outputs": None, "error": None,
    "created_at": "2026-11-22T03:15:05+00:00", "updated_at": "2026-11-22T03:15:08+00:00",
    "started_at": "2026-11-22T03:15:05+00:00", "completed_at": None,
}
KEY = {"id": "6b0f…", "name": "encoder-farm", "key_prefix": "tf_Q2x9a", "scopes": ["jobs:read", "jobs:write"],
       "rate_limit_per_hour": 100, "is_active": True, "created_at": "2026-11-22T04:00:00+00:00",
       "last_used_at": None, "revoked_at": None}
ACCEPTED = {"job_id": JOB_ID, "status": "pending", "status_url": f"/api/v1/jobs/{JOB_ID}",
            "source": {"bucket": "videos", "key": "raw/lecture.mov", "size_bytes": 1874097}}

#: (method, path) -> (success status, example body).
EXAMPLES: dict[tuple[str, str], tuple[str, object]] = {
    ("get", "/health"): ("200", {"status": "ok", "database": "ok", "nats": "ok", "projector": {
        "status": "ok", "stream_last_seq": 812, "checkpoint": 812, "lag": 0, "checkpoint_age_seconds": 1.2,
        "set_aside": 0}}),
    ("get", "/metrics"): ("200", "# HELP tflow_api_requests_total API requests by route and status.\n"),
    ("get", "/api/v1/jobs"): ("200", {"total": 1, "limit": 50, "offset": 0, "jobs": [JOB_SUMMARY]}),
    ("get", "/api/v1/jobs/{job_id}"): ("200", {**JOB_SUMMARY, "tasks": [
        {"name": "video_720p", "kind": "transcode", "rendition": "720p", "status": "processing",
         "progress_percent": 61.0, "speed": 0.9, "eta_seconds": 1.2, "attempts": 1, "epoch": 1,
         "outputs": [], "details": {},
         "processing_seconds": None, "error": None, "started_at": "2026-11-22T03:15:05+00:00",
         "completed_at": None}], "eta_seconds": 1.2}),
    ("delete", "/api/v1/jobs/{job_id}"): ("202", {"job_id": JOB_ID, "status": "cancelled",
                                                  "status_url": f"/api/v1/jobs/{JOB_ID}"}),
    ("get", "/api/v1/jobs/{job_id}/events"): ("200", 'event: progress\ndata: {"job_id": "…", "status": '
                                                     '"processing", "progress_percent": 42.5}\n\n'),
    ("get", "/api/v1/jobs/{job_id}/download/{output}"): ("200", {
        "output": "720p", "key": f"processed/{JOB_ID}/720p/video_720p.mp4",
        "url": "http://127.0.0.1:8333/videos/processed/…?X-Amz-Signature=…", "expires_in_seconds": 900}),
    ("post", "/api/v1/jobs/upload"): ("202", ACCEPTED),
    ("post", "/api/v1/jobs/minio"): ("202", ACCEPTED),
    ("post", "/api/v1/jobs/filesystem"): ("202", ACCEPTED),
    ("get", "/api/v1/stats"): ("200", {"total_jobs": 3, "by_status": {"pending": 0, "validating": 0, "processing": 1,
                                                                      "completed": 1, "failed": 1, "cancelled": 0},
                                       "last_24h": {"created": 3, "completed": 1, "failed": 1},
                                       "processing_seconds": {"average": 7.2, "p95": 7.2},
                                       "source": {"bytes": 4119839, "seconds": 9.3}}),
    ("get", "/api/v1/health/{component}"): ("200", {"status": "ok", "latency_ms": 0.41}),
    ("post", "/api/v1/admin/api-keys"): ("201", {**KEY, "key": "tf_Q2x9a…", "webhook_secret": "whsec_…"}),
    ("get", "/api/v1/admin/api-keys"): ("200", {"api_keys": [KEY]}),
    ("delete", "/api/v1/admin/api-keys/{key_id}"): ("204", None),
    ("post", "/api/v1/admin/api-keys/{key_id}/rotate"): ("200", {"id": "6b0f…", "key": "tf_Zr8…",
                                                                  "key_prefix": "tf_Zr8kp"}),
    ("get", "/api/v1/admin/projection-failures"): ("200", {"total": 1, "facts": [{
        "stream_seq": 4711, "subject": f"jobs.{JOB_ID}.received", "job_id": JOB_ID,
        "error": "UntranslatableCharacterError: unsupported Unicode escape sequence",
        "data_base64": "eyJ0eXBlIjoicmVjZWl2ZWQiLC4uLn0=", "failed_at": "2026-12-01T09:00:00+00:00"}]}),
    ("get", "/api/v1/admin/dead-letters"): ("200", {"total": 1, "dead_letters": [{
        "id": 42, "at": "2026-12-01T09:00:00Z", "kind": "max_deliveries", "stream": "JOBS", "consumer": "transcoder",
        "stream_seq": 4711, "deliveries": 8, "reason": None, "subject": f"jobs.{JOB_ID}.ingested",
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
