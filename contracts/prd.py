"""The PRD's names and shapes (PRD §2.6 metadata.json, §4 API): task names, task
statuses, the short container name, timestamps, and the `outputs` / `compression`
documents built from a job's finished tasks. Pure; the one home of these shapes, used by
the finalizer (metadata.json) and by the read model's API documents.

Our task names (`contracts.layout`) stay the internal ones (subjects, consumers,
replays); the PRD's DAG names (PRD FR-4.1) are what documents show as `name`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import msgspec

from contracts import layout
from contracts.results import (
    CustomThumbnailResult,
    HlsResult,
    MetadataResult,
    Mp3Result,
    TaskResult,
    ThumbnailsResult,
    TranscriptResult,
    VideoResult,
)
from contracts.shapes import OutputInfo

__all__ = [
    "VALIDATE_TASK",
    "prd_task_name",
    "prd_task_status",
    "format_name",
    "clock",
    "mb",
    "Done",
    "Located",
    "api_outputs",
    "metadata_outputs",
    "compression",
    "quality_metrics",
    "done_from_rows",
    "primary_thumbnail",
    "master_playlist",
]

#: The PRD's first DAG task; ingest's validation (not a task of our plan).
VALIDATE_TASK = "validate_video"

_FIXED_NAMES = {
    layout.THUMBNAILS_TASK: "generate_thumbnail",
    layout.CUSTOM_THUMBNAIL_TASK: "process_custom_thumbnail",
    layout.MP3_TASK: "extract_audio_mp3",
    layout.TRANSCRIPTION_TASK: "transcribe_video",
    layout.METADATA_TASK: "generate_metadata",
}

#: Transcript file suffix -> its key in the PRD's `transcription` object.
TRANSCRIPT_FORMATS = {"txt": "text", "srt": "srt", "vtt": "vtt", "json": "json"}


def prd_task_name(task: str) -> str:
    """The PRD FR-4.1 name of one of our tasks: `video_<r>` -> `transcode_<r>`,
    `hls_<r>` -> `prepare_hls_<r>`, `audio_mp3` -> `extract_audio_mp3`, `transcription`
    -> `transcribe_video`, `thumbnails` -> `generate_thumbnail`; the two the PRD has no
    name for: `thumbnail_custom` -> `process_custom_thumbnail`, `metadata` ->
    `generate_metadata`. Unknown names are returned unchanged."""
    if task in _FIXED_NAMES:
        return _FIXED_NAMES[task]
    parsed = layout.rendition_task(task)
    if parsed is not None:
        kind, rendition = parsed
        return f"transcode_{rendition}" if kind == "video" else f"prepare_hls_{rendition}"
    return task


#: Our task statuses -> the PRD's (PRD FR-6.1 tasks.status: pending, running,
#: completed, failed, skipped). `cancelled` is ours (the job was cancelled).
_TASK_STATUS = {"processing": "running", "retrying": "running"}


def prd_task_status(status: str) -> str:
    """A task status as the PRD names it (`processing` -> `running`); others unchanged."""
    return _TASK_STATUS.get(status, status)


#: Demuxer names (FFmpeg/PyAV `format.name`) -> the short format name the PRD shows.
_DEMUXERS = {"matroska,webm": "mkv", "avi": "avi", "flv": "flv", "asf": "wmv", "mpegts": "ts", "mpeg": "mpg",
             "ogg": "ogv"}
_MOV_FAMILY = ("mp4", "mov", "m4v", "3gp", "3g2")


def format_name(container: str | None, filename: str | None) -> str | None:
    """The short container name of a source (PRD `video_info.format`: `mp4`, not the
    demuxer's `mov,mp4,m4a,3gp,3g2,mj2`). The demuxer says the family; the file's
    extension picks the member when it belongs to that family (`.mov` -> `mov`,
    `.webm` -> `webm`). None before the probe."""
    if not container:
        return None
    ext = (filename or "").rsplit(".", 1)[-1].lower() if "." in (filename or "") else ""
    if container.startswith("mov,mp4"):
        return ext if ext in _MOV_FAMILY else "mp4"
    if container == "matroska,webm":
        return "webm" if ext == "webm" else "mkv"
    return _DEMUXERS.get(container, container.split(",", 1)[0])


def clock(seconds: float) -> str:
    """`HH:MM:SS` of a media time in seconds (PRD thumbnail `timestamp`), rounded down."""
    s = max(0, int(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def mb(size_bytes: int | None) -> float | None:
    """Bytes -> MB (2^20 bytes, the PRD's `size_mb`), two decimals."""
    return None if size_bytes is None else round(size_bytes / 1048576, 2)


class Done(NamedTuple):
    """One finished task: our name, the objects it wrote, its typed result, and its
    processing time in seconds (None when unknown)."""

    name: str
    outputs: list[OutputInfo]
    result: TaskResult
    seconds: float | None


#: Where an object is, as a document shows it: `{"path": key}` in metadata.json, or
#: `{"url", "minio_path", "key"}` in the API.
Located = Callable[[str], dict[str, Any]]


def _of(done: Iterable[Done], kind: type) -> list[Done]:
    return [d for d in done if isinstance(d.result, kind)]


def _secs(d: Done | None) -> float | None:
    return None if d is None or d.seconds is None else round(d.seconds, 3)


def _renditions(done: list[Done]) -> dict[str, tuple[Done | None, Done | None]]:
    """rendition -> (its MP4 task, its HLS task), smallest first as finished."""
    out: dict[str, tuple[Done | None, Done | None]] = {}
    for d in done:
        if isinstance(d.result, VideoResult):
            out[d.result.rendition] = (d, out.get(d.result.rendition, (None, None))[1])
        elif isinstance(d.result, HlsResult):
            out[d.result.rendition] = (out.get(d.result.rendition, (None, None))[0], d)
    return dict(sorted(out.items(), key=lambda kv: int(kv[0].rstrip("p")) if kv[0].rstrip("p").isdigit() else 0))


def _file(o: OutputInfo, at: Located) -> dict[str, Any]:
    return {**at(o.key), "size_bytes": o.size_bytes, "size_mb": mb(o.size_bytes)}


def _video(d: Done, at: Located) -> dict[str, Any] | None:
    if not d.outputs or not isinstance(d.result, VideoResult):
        return None
    o, r = d.outputs[0], d.result
    return {**_file(o, at), "resolution": f"{o.width}x{o.height}" if o.width and o.height else None,
            "width": o.width, "height": o.height, "bitrate": o.bitrate, "duration_seconds": o.duration_seconds,
            "processing_time_seconds": _secs(d), "codecs": r.codecs, "frame_rate": r.frame_rate,
            "profile": r.profile, "level": r.level, "crf": r.crf, "compression_ratio": o.compression_ratio,
            "psnr": r.psnr_db, "ssim": r.ssim, "vmaf": r.vmaf, "preset": r.preset,
            "encoding_profile": r.encoding_profile}


def _segments_size(r: HlsResult, hls: Done) -> int | None:
    """Bytes of the playlist and its segments; None when the fact did not record the
    segments' size (facts written before it was)."""
    if r.segments_size_bytes is None:
        return None
    return r.segments_size_bytes + sum(o.size_bytes for o in hls.outputs)


def _audio(done: list[Done], at: Located) -> dict[str, Any] | None:
    d = next(iter(_of(done, Mp3Result)), None)
    if d is None or not d.outputs:
        return None
    o = d.outputs[0]
    return {**_file(o, at), "bitrate": o.bitrate, "sample_rate": o.sample_rate, "duration_seconds": o.duration_seconds,
            "processing_time_seconds": _secs(d)}


def _transcription(done: list[Done], at: Located) -> dict[str, Any] | None:
    d = next(iter(_of(done, TranscriptResult)), None)
    if d is None or not isinstance(d.result, TranscriptResult):
        return None
    doc: dict[str, Any] = {}
    for o in d.outputs:
        fmt = TRANSCRIPT_FORMATS.get(o.key.rsplit(".", 1)[-1])
        if fmt is not None:
            doc[fmt] = _file(o, at)
    if "text" in doc:
        doc["text"]["word_count"] = d.result.word_count
    return {**doc, "language": d.result.language, "language_probability": d.result.language_probability,
            "word_count": d.result.word_count, "whisper_model": d.result.model, "model_rule": d.result.model_rule,
            "whisper_model_requested": d.result.model_requested,
            "segments": d.result.segments, "real_time_factor": d.result.real_time_factor,
            "processing_time_seconds": _secs(d)}


def _thumbnails(done: list[Done], at: Located) -> dict[str, Any] | None:
    auto = next(iter(_of(done, ThumbnailsResult)), None)
    custom = next(iter(_of(done, CustomThumbnailResult)), None)
    if auto is None and custom is None:
        return None
    primary = primary_thumbnail(done)
    custom_doc = None
    if custom is not None and custom.outputs:
        o = custom.outputs[0]
        custom_doc = {**_file(o, at), "width": o.width, "height": o.height, "source": "user_uploaded",
                      "is_primary": o.key == primary}
    listed: list[dict[str, Any]] = []
    if auto is not None and isinstance(auto.result, ThumbnailsResult):
        sizes = {o.key: o.size_bytes for o in auto.outputs}
        for t in auto.result.thumbnails:
            listed.append({"position_percent": t.position_percent, "timestamp": clock(t.timestamp_seconds),
                           "timestamp_seconds": t.timestamp_seconds, **at(t.key), "size_bytes": sizes.get(t.key),
                           "width": t.width, "height": t.height, "is_primary": t.key == primary})
    return {"custom": custom_doc, "auto_generated": listed, "primary": at(primary) if primary else None}


def primary_thumbnail(done: list[Done]) -> str | None:
    """Key of the job's primary thumbnail: the custom one, else the 50 % frame; None yet."""
    custom = next(iter(_of(done, CustomThumbnailResult)), None)
    if custom is not None and isinstance(custom.result, CustomThumbnailResult):
        return custom.result.primary
    auto = next(iter(_of(done, ThumbnailsResult)), None)
    return auto.result.primary if auto is not None and isinstance(auto.result, ThumbnailsResult) else None


def master_playlist(job_id: str, done: list[Done]) -> str | None:
    """Key of the job's multivariant playlist, once a rendition's HLS is done; None before."""
    meta = next(iter(_of(done, MetadataResult)), None)
    if meta is not None and isinstance(meta.result, MetadataResult) and meta.result.master_playlist:
        return meta.result.master_playlist
    return layout.master_key(job_id) if _of(done, HlsResult) else None


def api_outputs(job_id: str, done: list[Done], at: Located) -> dict[str, Any]:
    """The PRD §4 `outputs` of a job (GET /api/v1/jobs/{id}): per rendition (`"360p"`,
    `"720p"`) `video` (the MP4: location, `size_mb`, `resolution`, `bitrate` bits/s,
    `processing_time_seconds`, x264 settings, PSNR dB / SSIM) and `streaming` (`hls_url`,
    `segment_count`, `segment_duration` = HLS target seconds, `total_segments_size_mb`,
    BANDWIDTH / AVERAGE-BANDWIDTH bits/s); `audio` (MP3); `transcription` (`text`,
    `srt`, `vtt`, `json` files, language, model); `thumbnails` (`custom` with `source`
    and `is_primary`, `auto_generated` with `position_percent` and `timestamp`
    `HH:MM:SS`); `metadata_json`; and ours: `master_playlist`. Only finished outputs
    appear. `at(key)` gives each object's location fields."""
    out: dict[str, Any] = {}
    for rendition, (video, hls) in _renditions(done).items():
        entry: dict[str, Any] = {"video": _video(video, at) if video else None, "streaming": None}
        if hls is not None and isinstance(hls.result, HlsResult):
            r = hls.result
            loc = at(r.playlist_key)
            entry["streaming"] = {
                "hls_url": loc.get("url"), **loc, "segment_count": r.segment_count,
                "segment_duration": _target(r), "total_segments_size_mb": mb(_segments_size(r, hls)),
                "total_segments_size_bytes": _segments_size(r, hls), "bandwidth": r.bandwidth,
                "average_bandwidth": r.average_bandwidth, "processing_time_seconds": _secs(hls)}
        out[rendition] = entry
    out["audio"] = _audio(done, at)
    out["transcription"] = _transcription(done, at)
    out["thumbnails"] = _thumbnails(done, at)
    meta = next(iter(_of(done, MetadataResult)), None)
    out["metadata_json"] = at(meta.outputs[0].key) if meta is not None and meta.outputs else None
    master = master_playlist(job_id, done)
    out["master_playlist"] = at(master) if master else None
    return out


def _target(r: HlsResult) -> int:
    """EXT-X-TARGETDURATION of a media playlist: its longest segment rounded up (RFC 8216 §4.3.3.1)."""
    return max((int(-(-d // 1)) for d in r.segment_durations), default=0)


def metadata_outputs(done: list[Done]) -> dict[str, Any]:
    """The PRD §2.6 `outputs` of metadata.json: per rendition the MP4 (`path`,
    `size_bytes`, `resolution`, `bitrate` bits/s, `processing_time_seconds`) with its
    `segments` (`count`, `duration_seconds` = target, `total_size_bytes`,
    `playlist_path`, each segment's duration); `audio`; `transcription` (`text`, `srt`,
    `vtt`, `json`, `processing_time_seconds`, `whisper_model`); `thumbnails` (`custom`,
    `auto_generated`)."""
    def at(key: str) -> dict[str, Any]:
        return {"path": key}

    out: dict[str, Any] = {}
    for rendition, (video, hls) in _renditions(done).items():
        entry = (_video(video, at) if video else None) or {}
        if hls is not None and isinstance(hls.result, HlsResult):
            r = hls.result
            entry["segments"] = {"count": r.segment_count, "duration_seconds": _target(r),
                                 "total_size_bytes": _segments_size(r, hls), "playlist_path": r.playlist_key,
                                 "durations_seconds": r.segment_durations, "bandwidth": r.bandwidth,
                                 "average_bandwidth": r.average_bandwidth}
        out[rendition] = entry
    out["audio"] = _audio(done, at)
    out["transcription"] = _transcription(done, at)
    out["thumbnails"] = _thumbnails(done, at)
    return out


def compression(done: list[Done], source_size: int | None) -> dict[str, Any] | None:
    """Per rendition `source bytes / MP4 bytes`, and `total_saved_percent` = the share of
    the source's bytes the renditions together save, `(1 - sum(MP4) / source) * 100`
    (negative when they are larger). PRD §2.6 `compression_ratio`; None without an MP4."""
    sizes = {r: v.outputs[0].size_bytes for r, (v, _) in _renditions(done).items() if v is not None and v.outputs}
    if not sizes or not source_size:
        return None
    ratios: dict[str, Any] = {r: round(source_size / s, 2) if s else None for r, s in sizes.items()}
    return {**ratios, "total_saved_percent": round((1 - sum(sizes.values()) / source_size) * 100, 1)}


def quality_metrics(done: list[Done]) -> dict[str, dict[str, float | None]]:
    """PRD §2.6 `quality_metrics`: per rendition VMAF (0..100), PSNR (dB) and SSIM (0..1)
    against the source, where any of them was measured."""
    return {r: {"vmaf": v.result.vmaf, "psnr": v.result.psnr_db, "ssim": v.result.ssim}
            for r, (v, _) in _renditions(done).items()
            if v is not None and isinstance(v.result, VideoResult)
            and (v.result.psnr_db is not None or v.result.vmaf is not None)}


def done_from_rows(rows: Iterable[Any], decode: Callable[[str, Any], TaskResult | None]) -> list[Done]:
    """`Done` items of task rows (mappings with `name`, `status`, `outputs`, `details`,
    `processing_seconds`): the completed ones whose result `decode(name, details)` reads."""
    out = []
    for t in rows:
        if t["status"] != "completed":
            continue
        result = decode(t["name"], t["details"])
        if result is not None:
            out.append(Done(t["name"], msgspec.convert(t["outputs"] or [], list[OutputInfo]), result,
                            t["processing_seconds"]))
    return out

#: PRD container allowlist (file extensions / container names).
PRD_CONTAINERS = ("mp4", "avi", "mov", "mkv", "flv", "wmv", "webm")
#: What is accepted by default: the PRD's containers and what PeerTube also takes (README "Validation").
SOURCE_CONTAINERS = (*PRD_CONTAINERS, "3gp", "3g2", "ts", "m2ts", "mts", "mpg", "mpeg", "vob", "ogv", "ogg", "mxf",
                     "nut", "y4m")
