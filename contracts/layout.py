"""The object layout of bucket `videos` (DESIGN.md) and the task names of a job's plan:
the one module that builds every key and every task name.

```
raw/<original name>                         immutable originals (drop here)
raw/tenants/<api key id>/<original name>    originals an API key submitted
meta/<raw key>.json, meta/<raw key>.thumb.<ext>   submission sidecars (written first)
processed/<job_id>/metadata.json            the job's full record (PRD §2.6)
processed/<job_id>/master.m3u8              multivariant playlist (+ subtitles)
processed/<job_id>/<r>/video_<r>.mp4
processed/<job_id>/<r>/segments/playlist.m3u8, segment_NNN.ts, iframes.m3u8
processed/<job_id>/audio/audio.mp3
processed/<job_id>/transcription/transcript.{txt,srt,vtt,json}
processed/<job_id>/thumbnails/thumb_{00,25,50,75,100}.jpg, thumb_custom.jpg
processed/<job_id>/subtitles/playlist.m3u8, subtitles.vtt
```
"""

from __future__ import annotations

import uuid

__all__ = [
    "RAW_PREFIX",
    "PROCESSED_PREFIX",
    "META_PREFIX",
    "tenant_prefix",
    "tenant_of",
    "raw_keys",
    "meta_key",
    "thumbnail_sidecar_key",
    "processed_prefix",
    "rendition_key",
    "segments_prefix",
    "media_playlist_key",
    "master_key",
    "metadata_key",
    "mp3_key",
    "transcript_key",
    "thumbnail_key",
    "custom_thumbnail_key",
    "subtitles_playlist_key",
    "subtitles_vtt_key",
    "iframe_playlist_key",
    "relative_to_job",
    "video_task",
    "hls_task",
    "rendition_task",
    "THUMBNAILS_TASK",
    "CUSTOM_THUMBNAIL_TASK",
    "MP3_TASK",
    "TRANSCRIPTION_TASK",
    "METADATA_TASK",
]

#: Originals: never deleted, never overwritten.
RAW_PREFIX = "raw/"
#: Submission sidecars: `meta/<raw key>.json` holds the user metadata and options of an
#: object (written *before* the object, so whichever announcer wins, ingest finds it).
META_PREFIX = "meta/"
#: Every job's outputs: `processed/<job_id>/...` (served by NGINX).
PROCESSED_PREFIX = "processed/"

#: Task names that do not depend on a rendition.
THUMBNAILS_TASK = "thumbnails"
#: The positional thumbnails, in percent of the duration (PRD): `thumb_{00,25,50,75,100}.jpg`.
THUMBNAIL_POSITIONS = (0, 25, 50, 75, 100)
CUSTOM_THUMBNAIL_TASK = "thumbnail_custom"
MP3_TASK = "audio_mp3"
TRANSCRIPTION_TASK = "transcription"
METADATA_TASK = "metadata"


def tenant_prefix(owner: str | None) -> str:
    """Folder of the originals an API key submits: `raw/tenants/<key id>/` (so two keys'
    identical files are two objects, two jobs); `raw/` for the admin key, the drop folder
    and the bucket."""
    return f"{RAW_PREFIX}tenants/{owner}/" if owner else RAW_PREFIX


def tenant_of(key: str) -> str | None:
    """The API key id whose folder (`tenant_prefix`) holds original `key`, or None (the
    key is not under `raw/tenants/<uuid>/`)."""
    prefix = f"{RAW_PREFIX}tenants/"
    if not key.startswith(prefix):
        return None
    owner, sep, rest = key[len(prefix):].partition("/")
    try:
        return str(uuid.UUID(owner)) if sep and rest else None
    except ValueError:
        return None


def raw_keys(name: str, tag: str, owner: str | None = None) -> tuple[str, str]:
    """Where an original named `name` may go: `<folder><name>`, else (that key holds other
    content) `<folder><stem>-<tag[:12]><ext>`, `tag` being its SHA-256 or ETag and the
    folder `tenant_prefix(owner)`."""
    dot = name.rfind(".")
    stem, ext = (name[:dot], name[dot:]) if dot > 0 else (name, "")
    folder = tenant_prefix(owner)
    return f"{folder}{name}", f"{folder}{stem}-{tag[:12]}{ext}"


def meta_key(raw_key: str) -> str:
    """Key of the submission sidecar of `raw_key`: `meta/<raw_key>.json`."""
    return f"{META_PREFIX}{raw_key}.json"


def thumbnail_sidecar_key(raw_key: str, ext: str) -> str:
    """Key of a submitted custom thumbnail: `meta/<raw_key>.thumb<ext>` (`ext` with its dot)."""
    return f"{META_PREFIX}{raw_key}.thumb{ext.lower()}"


def processed_prefix(job_id: str) -> str:
    """`processed/<job>/`: every output of a job lives below it."""
    return f"{PROCESSED_PREFIX}{job_id}/"


def rendition_key(job_id: str, rendition: str) -> str:
    """A rendition MP4: `processed/<job>/<r>/video_<r>.mp4`."""
    return f"{processed_prefix(job_id)}{rendition}/video_{rendition}.mp4"


def segments_prefix(job_id: str, rendition: str) -> str:
    """Folder of a rendition's HLS media playlist and segments: `processed/<job>/<r>/segments/`."""
    return f"{processed_prefix(job_id)}{rendition}/segments/"


def media_playlist_key(job_id: str, rendition: str) -> str:
    """A rendition's HLS media playlist: `processed/<job>/<r>/segments/playlist.m3u8`."""
    return segments_prefix(job_id, rendition) + "playlist.m3u8"


def master_key(job_id: str) -> str:
    """The multivariant playlist: `processed/<job>/master.m3u8`."""
    return f"{processed_prefix(job_id)}master.m3u8"


def metadata_key(job_id: str) -> str:
    """The job's full record: `processed/<job>/metadata.json`."""
    return f"{processed_prefix(job_id)}metadata.json"


def mp3_key(job_id: str) -> str:
    """The MP3: `processed/<job>/audio/audio.mp3`."""
    return f"{processed_prefix(job_id)}audio/audio.mp3"


def transcript_key(job_id: str, fmt: str) -> str:
    """A transcript file: `processed/<job>/transcription/transcript.<fmt>` (txt, srt, vtt, json)."""
    return f"{processed_prefix(job_id)}transcription/transcript.{fmt}"


def thumbnail_key(job_id: str, position_percent: int) -> str:
    """A positional thumbnail: `processed/<job>/thumbnails/thumb_<pp>.jpg` (00, 25, 50, 75, 100)."""
    return f"{processed_prefix(job_id)}thumbnails/thumb_{position_percent:02d}.jpg"


def custom_thumbnail_key(job_id: str) -> str:
    """The submitter's thumbnail, re-encoded: `processed/<job>/thumbnails/thumb_custom.jpg`."""
    return f"{processed_prefix(job_id)}thumbnails/thumb_custom.jpg"


def subtitles_playlist_key(job_id: str) -> str:
    """The subtitles media playlist: `processed/<job>/subtitles/playlist.m3u8`."""
    return f"{processed_prefix(job_id)}subtitles/playlist.m3u8"


def subtitles_vtt_key(job_id: str) -> str:
    """The transcript's WebVTT as HLS serves it (with `X-TIMESTAMP-MAP`):
    `processed/<job>/subtitles/subtitles.vtt`."""
    return f"{processed_prefix(job_id)}subtitles/subtitles.vtt"


def iframe_playlist_key(job_id: str, rendition: str) -> str:
    """A rendition's I-frame playlist: `processed/<job>/<r>/segments/iframes.m3u8`."""
    return segments_prefix(job_id, rendition) + "iframes.m3u8"


def relative_to_job(job_id: str, key: str) -> str:
    """`key` relative to `processed/<job>/` (URIs inside the multivariant playlist)."""
    return key.removeprefix(processed_prefix(job_id))


def video_task(rendition: str) -> str:
    """Name of the task encoding rendition `r`: `video_<r>`."""
    return f"video_{rendition}"


def hls_task(rendition: str) -> str:
    """Name of the task packaging rendition `r` as HLS: `hls_<r>`."""
    return f"hls_{rendition}"


def rendition_task(task: str) -> tuple[str, str] | None:
    """`("video" | "hls", rendition)` of a rendition task's name (the inverse of
    `video_task` / `hls_task`), or None for any other task."""
    kind, sep, rendition = task.partition("_")
    return (kind, rendition) if sep and rendition and kind in ("video", "hls") else None
