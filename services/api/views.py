"""Read-model rows -> API documents (pure)."""

from __future__ import annotations

from typing import Any


def _iso(v: Any) -> Any:
    return v.isoformat() if v is not None and hasattr(v, "isoformat") else v


def task_view(t: dict[str, Any]) -> dict[str, Any]:
    """One task of a job: status, progress (percent), speed (x real time), ETA (seconds), error."""
    return {
        "name": t["name"], "kind": t["kind"], "rendition": t["rendition"], "status": t["status"],
        "progress_percent": t["progress_percent"], "speed": t["speed"], "eta_seconds": t["eta_seconds"],
        "attempts": t["attempts"], "outputs": t["outputs"], "details": t["details"],
        "processing_seconds": t["processing_seconds"],
        "error": {"code": t["error_code"], "message": t["error_message"]} if t["error_message"] else None,
        "started_at": _iso(t["started_at"]), "completed_at": _iso(t["completed_at"]),
    }


def job_view(j: dict[str, Any], tasks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The job document: state, progress, source, probe data (`video_info`), tasks, outputs."""
    doc = {
        "job_id": str(j["id"]),
        "status": j["status"],
        "progress_percent": j["progress_percent"],
        "current_task": j["current_task"],
        "priority": j["priority"],
        "source": {
            "origin": j["origin"], "bucket": j["source_bucket"], "key": j["source_key"], "etag": j["source_etag"],
            "original_filename": j["original_filename"], "file_size_bytes": j["file_size_bytes"],
        },
        "video_info": None if j["video_codec"] is None else {
            "container": j["container"], "duration_seconds": j["duration_seconds"], "bitrate": j["bitrate"],
            "codec": j["video_codec"], "width": j["width"], "height": j["height"],
            "display_width": j["display_width"], "display_height": j["display_height"], "fps": j["fps"],
            "video_bitrate": j["video_bitrate"], "pixel_format": j["pixel_format"], "rotation": j["rotation"],
            "audio_codec": j["audio_codec"], "audio_bitrate": j["audio_bitrate"],
            "audio_sample_rate": j["audio_sample_rate"], "audio_channels": j["audio_channels"],
        },
        "transcription": {"language": j["transcription_language"], "model": j["whisper_model"],
                          "word_count": j["word_count"]},
        "user_metadata": j["user_metadata"],
        "outputs": j["outputs"],
        "error": {"code": j["error_code"], "message": j["error_message"]} if j["error_code"] else None,
        "created_at": _iso(j["created_at"]), "updated_at": _iso(j["updated_at"]),
        "started_at": _iso(j["started_at"]), "completed_at": _iso(j["completed_at"]),
    }
    if tasks is not None:
        doc["tasks"] = [task_view(t) for t in tasks]
    return doc
