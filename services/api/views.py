"""Read-model rows -> API documents (pure)."""

from __future__ import annotations

from collections.abc import Callable
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


def outputs_view(job_id: str, tasks: list[dict[str, Any]], url: Callable[[str], str]) -> dict[str, Any]:
    """Every finished output with its object path (`key`) and a URL (`url(key)`, the
    streaming base): master playlist, per rendition MP4 + HLS, MP3, thumbnails,
    transcript files, metadata.json."""
    done = {t["name"]: t for t in tasks if t["status"] == "completed"}

    def obj(o: dict[str, Any]) -> dict[str, Any]:
        return {**o, "url": url(o["key"])}

    renditions: dict[str, Any] = {}
    for name, t in done.items():
        if name.startswith(("video_", "hls_")) and t["outputs"]:
            r = t["rendition"] or name.split("_", 1)[1]
            entry = renditions.setdefault(r, {})
            if name.startswith("video_"):
                entry["mp4"] = obj(t["outputs"][0])
                entry["quality"] = {k: t["details"].get(k) for k in ("psnr_db", "ssim")}
            else:
                entry["hls"] = {**obj(t["outputs"][0]), "segment_count": t["details"].get("segment_count"),
                                "bandwidth": t["details"].get("bandwidth"),
                                "average_bandwidth": t["details"].get("average_bandwidth")}
    thumbs = done.get("thumbnails")
    custom = done.get("thumbnail_custom")
    meta = done.get("metadata")
    master = meta["details"].get("master_playlist") if meta else None
    if master is None and any(n.startswith("hls_") for n in done):
        master = f"processed/{job_id}/master.m3u8"
    primary = (custom or thumbs or {}).get("details", {}).get("primary") if (custom or thumbs) else None
    return {
        "master_playlist": {"key": master, "url": url(master)} if master else None,
        "renditions": renditions,
        "audio": obj(done["audio_mp3"]["outputs"][0]) if "audio_mp3" in done else None,
        "thumbnails": [{**t, "url": url(t["key"])} for t in thumbs["details"].get("thumbnails", [])] if thumbs else [],
        "thumbnail_primary": {"key": primary, "url": url(primary)} if primary else None,
        "transcription": [obj(o) for o in done["transcription"]["outputs"]] if "transcription" in done else None,
        "metadata": obj(meta["outputs"][0]) if meta and meta["outputs"] else None,
    }


def job_view(j: dict[str, Any], tasks: list[dict[str, Any]] | None = None,
             url: Callable[[str], str] | None = None) -> dict[str, Any]:
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
        "outputs": outputs_view(str(j["id"]), tasks, url) if tasks is not None and url is not None else None,
        "error": {"code": j["error_code"], "message": j["error_message"]} if j["error_code"] else None,
        "created_at": _iso(j["created_at"]), "updated_at": _iso(j["updated_at"]),
        "started_at": _iso(j["started_at"]), "completed_at": _iso(j["completed_at"]),
    }
    if tasks is not None:
        doc["tasks"] = [task_view(t) for t in tasks]
        started = [t for t in tasks if t["eta_seconds"] is not None and t["status"] == "processing"]
        doc["eta_seconds"] = max((t["eta_seconds"] for t in started), default=None)
    return doc
