"""metadata.json (PRD §2.6): the job's full record, built from its facts (pure)."""

from __future__ import annotations

from typing import Any

import msgspec

from contracts import Ingested, TaskCompleted


def _outputs(done: TaskCompleted | None) -> list[dict[str, Any]]:
    return [msgspec.to_builtins(o) for o in done.outputs] if done else []


def build_metadata(ing: Ingested, done: dict[str, TaskCompleted | None], master_key: str | None,
                   completed_at: str) -> dict[str, Any]:
    """The document written to `processed/<job>/metadata.json`: source and probe, every
    output with key/size/bitrate (and per rendition the HLS segment count and durations,
    PSNR/SSIM), thumbnails, MP3, transcript, compression ratios, processing seconds per
    task, and the user metadata as given."""
    renditions: dict[str, Any] = {}
    for t in ing.plan:
        if t.kind != "transcode" or t.rendition is None:
            continue
        video, hls = done.get(t.name), done.get(f"hls_{t.rendition}")
        entry: dict[str, Any] = {"mp4": _outputs(video)[0] if video and video.outputs else None}
        if video:
            entry["quality"] = {k: video.details.get(k) for k in ("psnr_db", "ssim")}
            entry["codecs"] = video.details.get("codecs")
        if hls:
            entry["hls"] = {"playlist_key": hls.details.get("playlist_key"),
                            "segment_count": hls.details.get("segment_count"),
                            "segment_durations_seconds": hls.details.get("segment_durations"),
                            "bandwidth": hls.details.get("bandwidth"),
                            "average_bandwidth": hls.details.get("average_bandwidth")}
        renditions[t.rendition] = entry
    thumbs = done.get("thumbnails")
    custom = done.get("thumbnail_custom")
    transcript = done.get("transcription")
    mp3 = done.get("audio_mp3")
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
        "audio": _outputs(mp3)[0] if mp3 and mp3.outputs else None,
        "thumbnails": (thumbs.details.get("thumbnails", []) if thumbs else []),
        "thumbnail_primary": (custom.details.get("primary") if custom else None)
        or (thumbs.details.get("primary") if thumbs else None),
        "transcription": ({**transcript.details, "files": _outputs(transcript)} if transcript else None),
        "compression_ratios": {r: (e["mp4"] or {}).get("compression_ratio") for r, e in renditions.items()},
        "processing_seconds": {name: d.seconds for name, d in done.items() if d is not None},
        "user_metadata": ing.user_metadata,
        "options": msgspec.to_builtins(ing.options),
    }
