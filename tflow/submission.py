"""Submission policy shared by every way in (drop folder sidecar, REST API): user metadata
limits and the job options read from it."""

from __future__ import annotations

import json
from typing import Any

from contracts import JobOptions

#: Deepest nesting accepted in user metadata (objects/arrays).
MAX_METADATA_DEPTH = 8
#: Custom thumbnails: image codecs accepted (by decoding, FFmpeg names) and the size
#: limit in bytes (PRD: JPG/PNG/WebP, 5 MB).
CUSTOM_CODECS = frozenset({"mjpeg", "png", "webp"})
CUSTOM_MAX_BYTES = 5 * 1024 * 1024


class MetadataError(ValueError):
    """User metadata breaks a rule; the message says which (for a 4xx or `failed/` note)."""


class MetadataTooLarge(MetadataError):
    """User metadata is larger than the byte limit (HTTP 413 rather than 422)."""


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def check_metadata(value: Any, max_bytes: int, max_depth: int = MAX_METADATA_DEPTH) -> dict[str, Any]:
    """Return `value` if it is a JSON object within `max_bytes` (compact UTF-8 encoding) and
    `max_depth` levels; raise `MetadataError` naming the broken rule otherwise."""
    if not isinstance(value, dict):
        raise MetadataError(f"metadata must be a JSON object, got {type(value).__name__}")
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > max_bytes:
        raise MetadataTooLarge(f"metadata is {size} bytes, above the limit of {max_bytes} bytes")
    depth = _depth(value)
    if depth > max_depth:
        raise MetadataError(f"metadata nests {depth} levels, above the limit of {max_depth}")
    return value


def parse_metadata(text: str | bytes, max_bytes: int) -> dict[str, Any]:
    """Parse and check user metadata JSON text. Raises `MetadataError`."""
    if len(text) > max_bytes * 4:
        raise MetadataTooLarge(f"metadata text is {len(text)} bytes, far above the limit of {max_bytes} bytes")
    try:
        value = json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        raise MetadataError(f"metadata is not valid JSON: {e}") from e
    return check_metadata(value, max_bytes)


def options_from_metadata(metadata: dict[str, Any], base: JobOptions | None = None) -> JobOptions:
    """Job options the PRD reads from user metadata: `priority` (1..10),
    `transcription_language`, `whisper_model`. Raises `MetadataError` on a bad value."""
    o = base or JobOptions()
    prio = metadata.get("priority", o.priority)
    if not isinstance(prio, int) or isinstance(prio, bool) or not 1 <= prio <= 10:
        raise MetadataError(f"priority must be an integer from 1 to 10, got {prio!r}")
    lang = metadata.get("transcription_language", o.transcription_language)
    if lang is not None and (not isinstance(lang, str) or not 2 <= len(lang) <= 8):
        raise MetadataError(f"transcription_language must be a language code such as 'en', got {lang!r}")
    model = metadata.get("whisper_model", o.whisper_model)
    if model is not None and (not isinstance(model, str) or len(model) > 64):
        raise MetadataError(f"whisper_model must be a model name, got {model!r}")
    return JobOptions(priority=prio, webhook_url=o.webhook_url, transcription_language=lang, whisper_model=model,
                      thumbnail_key=o.thumbnail_key, api_key_id=o.api_key_id)
