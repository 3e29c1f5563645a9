"""Read-model rows -> API documents (pure): the job document the API answers and the
notifier posts, its tasks and its outputs, and where a named download lives."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import msgspec

from contracts import (
    CustomThumbnailResult,
    HlsResult,
    MetadataResult,
    Mp3Result,
    TaskResult,
    ThumbnailsResult,
    TranscriptResult,
    VideoResult,
    layout,
)
from readmodel.rows import task_result, video_info

R = TypeVar("R")


def _iso(v: Any) -> Any:
    return v.isoformat() if v is not None and hasattr(v, "isoformat") else v


def task_view(t: Mapping[str, Any]) -> dict[str, Any]:
    """One task of a job: status, progress (percent), speed (x real time), ETA (seconds),
    delivery attempts and epoch (1 + the replays that re-ran it), error."""
    return {
        "name": t["name"], "kind": t["kind"], "rendition": t["rendition"], "status": t["status"],
        "progress_percent": t["progress_percent"], "speed": t["speed"], "eta_seconds": t["eta_seconds"],
        "attempts": t["attempts"], "epoch": t["epoch"], "outputs": t["outputs"], "details": t["details"],
        "processing_seconds": t["processing_seconds"],
        "error": {"code": t["error_code"], "message": t["error_message"]} if t["error_message"] else None,
        "started_at": _iso(t["started_at"]), "completed_at": _iso(t["completed_at"]),
    }


def _results(tasks: list[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], TaskResult]]:
    """(row, typed result) of every completed task that has one, in the rows' order."""
    out = []
    for t in tasks:
        if t["status"] == "completed":
            result = task_result(t["name"], t["details"])
            if result is not None:
                out.append((t, result))
    return out


def _first(done: list[tuple[Mapping[str, Any], TaskResult]], kind: type[R]) -> tuple[Mapping[str, Any], R] | None:
    for t, r in done:
        if isinstance(r, kind):
            return t, r
    return None


def outputs_view(job_id: str, tasks: list[Mapping[str, Any]], url: Callable[[str], str]) -> dict[str, Any]:
    """Every finished output with its object path (`key`) and a URL (`url(key)`, the
    streaming base): master playlist, per rendition MP4 + HLS, MP3, thumbnails,
    transcript files, metadata.json. Dispatches on the tasks' typed results."""
    done = _results(tasks)

    def obj(o: dict[str, Any]) -> dict[str, Any]:
        return {**o, "url": url(o["key"])}

    renditions: dict[str, Any] = {}
    for t, r in done:
        if isinstance(r, VideoResult) and t["outputs"]:
            entry = renditions.setdefault(r.rendition, {})
            entry["mp4"] = obj(t["outputs"][0])
            entry["quality"] = {"psnr_db": r.psnr_db, "ssim": r.ssim}
        elif isinstance(r, HlsResult) and t["outputs"]:
            renditions.setdefault(r.rendition, {})["hls"] = {
                **obj(t["outputs"][0]), "segment_count": r.segment_count, "bandwidth": r.bandwidth,
                "average_bandwidth": r.average_bandwidth}
    thumbs = _first(done, ThumbnailsResult)
    custom = _first(done, CustomThumbnailResult)
    meta = _first(done, MetadataResult)
    audio = _first(done, Mp3Result)
    transcript = _first(done, TranscriptResult)
    master = meta[1].master_playlist if meta else None
    if master is None and _first(done, HlsResult):
        master = layout.master_key(job_id)
    primary = custom[1].primary if custom else thumbs[1].primary if thumbs else None
    return {
        "master_playlist": {"key": master, "url": url(master)} if master else None,
        "renditions": renditions,
        "audio": obj(audio[0]["outputs"][0]) if audio and audio[0]["outputs"] else None,
        "thumbnails": [{**msgspec.to_builtins(th), "url": url(th.key)} for th in thumbs[1].thumbnails]
        if thumbs else [],
        "thumbnail_primary": {"key": primary, "url": url(primary)} if primary else None,
        "transcription": [obj(o) for o in transcript[0]["outputs"]] if transcript else None,
        "metadata": obj(meta[0]["outputs"][0]) if meta and meta[0]["outputs"] else None,
    }


def download_key(job_id: str, output: str, tasks: list[Mapping[str, Any]]) -> str | None:
    """The object key of a named output (`master`, `metadata`, `mp3`, a rendition name
    for its MP4, `hls_<r>` for its media playlist, `thumb_<pp>` / `thumb_custom`,
    `transcript.<fmt>`) among the job's completed tasks, or None."""
    done = _results(tasks)
    for t, r in done:
        keys = [o["key"] for o in t["outputs"]]
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
    if output == "master" and _first(done, HlsResult):
        return layout.master_key(job_id)
    return None


def job_view(j: Mapping[str, Any], tasks: list[Mapping[str, Any]] | None = None,
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
        "video_info": video_info(j),
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
