"""metadata.json (PRD §2.6): the job's full record, built from its facts (pure)."""

from __future__ import annotations

from typing import Any

import msgspec

from contracts import (
    CustomThumbnailResult,
    HlsResult,
    Ingested,
    Mp3Result,
    TaskCompleted,
    ThumbnailsResult,
    TranscriptResult,
    VideoResult,
)


def _first_output(done: TaskCompleted | None) -> dict[str, Any] | None:
    return msgspec.to_builtins(done.outputs[0]) if done and done.outputs else None


def _by_result(done: dict[str, TaskCompleted | None], kind: type) -> list[TaskCompleted]:
    return [d for d in done.values() if d is not None and isinstance(d.result, kind)]


def build_metadata(ing: Ingested, done: dict[str, TaskCompleted | None], master_key: str | None,
                   completed_at: str) -> dict[str, Any]:
    """The document written to `processed/<job>/metadata.json`: source and probe, every
    output with key/size/bitrate (and per rendition the HLS segment count and durations,
    PSNR/SSIM), thumbnails, MP3, transcript, compression ratios, processing seconds per
    task, and the user metadata as given. `done`: each planned task's completion or None."""
    videos = {d.result.rendition: d for d in _by_result(done, VideoResult) if isinstance(d.result, VideoResult)}
    hls = {d.result.rendition: d.result for d in _by_result(done, HlsResult) if isinstance(d.result, HlsResult)}
    renditions: dict[str, Any] = {}
    for t in ing.plan:
        if t.kind != "transcode" or t.rendition is None:
            continue
        video, playlist = videos.get(t.rendition), hls.get(t.rendition)
        entry: dict[str, Any] = {"mp4": _first_output(video)}
        if video is not None and isinstance(video.result, VideoResult):
            entry["quality"] = {"psnr_db": video.result.psnr_db, "ssim": video.result.ssim}
            entry["codecs"] = video.result.codecs
        if playlist is not None:
            entry["hls"] = {"playlist_key": playlist.playlist_key, "segment_count": playlist.segment_count,
                            "segment_durations_seconds": playlist.segment_durations,
                            "bandwidth": playlist.bandwidth, "average_bandwidth": playlist.average_bandwidth}
        renditions[t.rendition] = entry
    thumbs = next((d.result for d in _by_result(done, ThumbnailsResult)), None)
    custom = next((d.result for d in _by_result(done, CustomThumbnailResult)), None)
    transcript = next(iter(_by_result(done, TranscriptResult)), None)
    mp3 = next(iter(_by_result(done, Mp3Result)), None)
    return {
        "schema_version": 1,
        "job_id": ing.job_id,
        "status": "completed",
        "ingested_at": ing.at.isoformat(),
        "completed_at": completed_at,
        "source": {"bucket": ing.source.bucket, "key": ing.source.key, "etag": ing.source.etag,
                   "size_bytes": ing.source.size, "origin": ing.origin,
                   "probe": msgspec.to_builtins(ing.probe)},
        "master_playlist": master_key,
        "renditions": renditions,
        "audio": _first_output(mp3),
        "thumbnails": msgspec.to_builtins(thumbs.thumbnails) if isinstance(thumbs, ThumbnailsResult) else [],
        "thumbnail_primary": (custom.primary if isinstance(custom, CustomThumbnailResult) else None)
        or (thumbs.primary if isinstance(thumbs, ThumbnailsResult) else None),
        "transcription": ({**_plain(transcript.result), "files": [msgspec.to_builtins(o) for o in transcript.outputs]}
                          if transcript else None),
        "compression_ratios": {r: (e["mp4"] or {}).get("compression_ratio") for r, e in renditions.items()},
        "processing_seconds": {name: d.seconds for name, d in done.items() if d is not None},
        "user_metadata": ing.user_metadata,
        "options": msgspec.to_builtins(ing.options),
    }


def _plain(result: object) -> dict[str, Any]:
    """A result's fields without its type tag (metadata.json keeps its schema-1 shape)."""
    doc: dict[str, Any] = msgspec.to_builtins(result)
    doc.pop("type", None)
    return doc
