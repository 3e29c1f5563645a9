"""Read-model rows -> API documents (pure): the job document the API answers and the
notifier posts, its tasks and its outputs, and where a named download lives."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from contracts import (
    CustomThumbnailResult,
    HlsResult,
    MetadataResult,
    Mp3Result,
    ThumbnailsResult,
    TranscriptResult,
    VideoResult,
    layout,
    prd,
)
from readmodel.rows import task_result, video_info


def _iso(v: Any) -> Any:
    return v.isoformat() if v is not None and hasattr(v, "isoformat") else v


def task_view(t: Mapping[str, Any]) -> dict[str, Any]:
    """One task of a job (PRD §4 `tasks[]`): `name` (the PRD's, e.g. `transcode_720p`),
    `status` (PRD: pending, running, completed, failed; ours: cancelled),
    `duration_seconds`, `progress_percent`, `eta_seconds`, `output_size_mb`; ours
    besides: `task` (our name, what replays take), kind, rendition, speed (x real time),
    delivery attempts, epoch (1 + the replays that re-ran it), outputs, typed details, error."""
    size = sum(o.get("size_bytes") or 0 for o in t["outputs"]) if t["outputs"] else None
    return {
        "name": prd.prd_task_name(t["name"]), "task": t["name"], "kind": t["kind"],
        "rendition": t["rendition"], "status": prd.prd_task_status(t["status"]),
        "progress_percent": t["progress_percent"], "eta_seconds": t["eta_seconds"],
        "duration_seconds": t["processing_seconds"], "output_size_mb": prd.mb(size), "output_size_bytes": size,
        "speed": t["speed"], "attempts": t["attempts"], "epoch": t["epoch"], "outputs": t["outputs"],
        "details": t["details"],
        "error": {"code": t["error_code"], "message": t["error_message"]} if t["error_message"] else None,
        "started_at": _iso(t["started_at"]), "completed_at": _iso(t["completed_at"]),
    }


def validate_view(j: Mapping[str, Any]) -> dict[str, Any]:
    """The PRD's first task, `validate_video` (ingest's probe and checks), from the job's
    state: running while `validating`, failed when the source was rejected, else completed."""
    status = {"validating": "running", "failed": "failed" if j["video_codec"] is None else "completed",
              "cancelled": "cancelled" if j["video_codec"] is None else "completed"}.get(
        j["status"], "completed")
    return {"name": prd.VALIDATE_TASK, "task": None, "kind": "validate", "rendition": None, "status": status,
            "progress_percent": 100.0 if status == "completed" else 0.0, "eta_seconds": None,
            "duration_seconds": None, "output_size_mb": None, "output_size_bytes": None, "speed": None,
            "attempts": None, "epoch": None, "outputs": [], "details": {},
            "error": {"code": j["error_code"], "message": j["error_message"]}
            if status == "failed" and j["error_code"] else None,
            "started_at": _iso(j["created_at"]), "completed_at": None}


def finished(tasks: list[Mapping[str, Any]]) -> list[prd.Done]:
    """The job's completed tasks with their typed results (`prd.Done`)."""
    return prd.done_from_rows(tasks, task_result)


def locator(bucket: str, url: Callable[[str], str]) -> prd.Located:
    """Where an object is in an API document: `url` (public, presigned or stream-token),
    `minio_path` (`<bucket>/<key>`, PRD) and `key`."""
    return lambda key: {"url": url(key), "minio_path": f"{bucket}/{key}", "key": key}


#: `download/{file_type}` names of the user guide -> ours.
DOWNLOAD_ALIASES = {"audio": "mp3", "transcript_txt": "transcript.txt", "transcript_srt": "transcript.srt",
                    "transcript_vtt": "transcript.vtt", "transcript_json": "transcript.json",
                    "hls": "master", "metadata_json": "metadata"}


def download_key(job_id: str, output: str, tasks: list[Mapping[str, Any]]) -> str | None:
    """The object key of a named output (`master`, `metadata`, `mp3`, a rendition name
    for its MP4, `hls_<r>` for its media playlist, `thumb_<pp>` / `thumb_custom`,
    `thumbnail` for the primary one, `transcript.<fmt>`; and the user guide's names in
    `DOWNLOAD_ALIASES`) among the job's completed tasks, or None."""
    output = DOWNLOAD_ALIASES.get(output, output)
    done = finished(tasks)
    if output == "thumbnail":
        return prd.primary_thumbnail(done)
    if output == "master":
        return prd.master_playlist(job_id, done)
    for d in done:
        r, keys = d.result, [o.key for o in d.outputs]
        names = {k.rsplit("/", 1)[-1]: k for k in keys}
        if ((output == "metadata" and isinstance(r, MetadataResult))
                or (output == "mp3" and isinstance(r, Mp3Result))
                or (isinstance(r, VideoResult) and output == r.rendition)
                or (isinstance(r, HlsResult) and output == layout.hls_task(r.rendition))) and keys:
            return keys[0]
        if isinstance(r, ThumbnailsResult | CustomThumbnailResult) and f"{output}.jpg" in names:
            return names[f"{output}.jpg"]
        if isinstance(r, TranscriptResult) and output in names:
            return names[output]
    return None


def video_info_view(j: Mapping[str, Any]) -> dict[str, Any] | None:
    """PRD §4 `video_info`: `filename`, `duration` (s), `resolution` `WxH` (upright),
    `size_mb`, short `format`, `codec`, `bitrate` (bits/s), `fps`, audio codec / bits/s /
    Hz; ours besides: every probe column (`rows.PROBE_COLUMNS`). None before ingest."""
    info = video_info(j)
    if info is None:
        return None
    w, h = j["display_width"], j["display_height"]
    return {"filename": j["original_filename"], "duration": j["duration_seconds"],
            "resolution": f"{w}x{h}" if w and h else None, "size_mb": prd.mb(j["file_size_bytes"]),
            "size_bytes": j["file_size_bytes"], "format": prd.format_name(j["container"], j["original_filename"]),
            **info, "width": w, "height": h, "coded_width": j["width"], "coded_height": j["height"]}


def job_view(j: Mapping[str, Any], tasks: list[Mapping[str, Any]] | None = None,
             located: prd.Located | None = None) -> dict[str, Any]:
    """The job document (PRD §4 `GET /api/v1/jobs/{id}`): status, progress, the PRD name
    of the current task, priority, times and `processing_time_seconds` (landing to
    completion), user metadata, `video_info`, and with `tasks` the task list (led by
    `validate_video`), `eta_seconds`, `retry_count` (redeliveries past each task's
    first), `outputs` (`located(key)` places each object), `compression` (`<r>_ratio`,
    `total_saved_percent`) and `quality_metrics`. Ours besides: source, transcription, error."""
    done = finished(tasks) if tasks is not None else []
    ratios = prd.compression(done, j["file_size_bytes"]) if tasks is not None else None
    created, completed = j["created_at"], j["completed_at"]
    doc = {
        "job_id": str(j["id"]),
        "status": j["status"],
        "progress_percent": j["progress_percent"],
        "current_task": prd.prd_task_name(j["current_task"]) if j["current_task"] else None,
        "priority": j["priority"],
        "created_at": _iso(created), "updated_at": _iso(j["updated_at"]),
        "started_at": _iso(j["started_at"]), "completed_at": _iso(completed),
        "processing_time_seconds": round((completed - created).total_seconds(), 3)
        if completed is not None and created is not None and hasattr(completed, "tzinfo") else None,
        "user_metadata": j["user_metadata"],
        "video_info": video_info_view(j),
        "source": {
            "origin": j["origin"], "bucket": j["source_bucket"], "key": j["source_key"], "etag": j["source_etag"],
            "original_filename": j["original_filename"], "file_size_bytes": j["file_size_bytes"],
        },
        "transcription": {"language": j["transcription_language"], "model": j["whisper_model"],
                          "word_count": j["word_count"]},
        "outputs": prd.api_outputs(str(j["id"]), done, located) if tasks is not None and located is not None
        else None,
        "compression": {**{f"{k}_ratio": v for k, v in ratios.items() if k != "total_saved_percent"},
                        "total_saved_percent": ratios["total_saved_percent"]} if ratios else None,
        "error": {"code": j["error_code"], "message": j["error_message"]} if j["error_code"] else None,
    }
    if tasks is not None:
        doc["quality_metrics"] = prd.quality_metrics(done)
        doc["tasks"] = [validate_view(j), *(task_view(t) for t in tasks)]
        started = [t for t in tasks if t["eta_seconds"] is not None and t["status"] == "processing"]
        doc["eta_seconds"] = max((t["eta_seconds"] for t in started), default=None)
        doc["retry_count"] = sum(max(0, (t["attempts"] or 0) - 1) for t in tasks)
    return doc
