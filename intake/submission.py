"""Submission policy shared by every way in (drop folder sidecar, REST API): user metadata
limits and the job options read from it."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from contracts import JobOptions

#: Deepest nesting accepted in user metadata (objects/arrays).
MAX_METADATA_DEPTH = 8
#: Custom thumbnails: the size limit in bytes (PRD: JPG/PNG/WebP, 5 MB; formats in `media.image`).
CUSTOM_MAX_BYTES = 5 * 1024 * 1024
#: Custom thumbnails: the largest canvas accepted, judged from the header before decoding
#: (40 MP: above 8K UHD's 33 MP; a 16000x16000 "bomb" is 256 MP).
CUSTOM_MAX_PIXELS = 40_000_000


class MetadataError(ValueError):
    """User metadata breaks a rule; the message says which (for a 4xx or `failed/` note)."""


class MetadataTooLarge(MetadataError):
    """User metadata is larger than the byte limit (HTTP 413 rather than 422)."""


def text_problem(text: str) -> str | None:
    """Why `text` cannot be stored as Postgres `text`/`jsonb` (a NUL character, a lone
    UTF-16 surrogate: PostgreSQL docs, "Character Types" and "JSON Types"), or None."""
    if "\x00" in text:
        return "contains a NUL character (\\u0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (not valid Unicode)"
    return None


def check_text(text: str, what: str) -> str:
    """`text` if `text_problem` finds nothing; else raise `MetadataError` naming `what`."""
    problem = text_problem(text)
    if problem:
        raise MetadataError(f"{what} {problem}")
    return text


#: A JSON string (RFC 8259 §7) and a bracket, as bytes.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # "unrolled loop": linear, no backtracking
_BRACKET = re.compile(rb"[\[\]{}]")


def json_depth(text: str | bytes, limit: int) -> int:
    """The deepest nesting of objects/arrays in JSON `text`, counting no further than
    `limit + 1`: strings are blanked, then brackets counted (no recursion, no parse; an
    unterminated string can only make the count larger)."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    depth = deepest = 0
    for m in _BRACKET.finditer(_JSON_STRING.sub(b'""', data)):
        if m.group() in (b"{", b"["):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        else:
            depth -= 1
    return deepest


def _path(where: str, key: object, in_object: bool) -> str:
    return (f"{where}.{key}" if in_object else f"{where}[{key}]")[:80]


def check_metadata(value: Any, max_bytes: int, max_depth: int = MAX_METADATA_DEPTH) -> dict[str, Any]:
    """Return `value` if it is a JSON object within `max_bytes` (compact UTF-8 encoding) and
    `max_depth` levels, every key and string storable in Postgres (`text_problem`) and
    every number finite; raise `MetadataError` naming the broken rule otherwise. The walk
    is iterative and stops at the depth limit, so no input can exhaust the stack."""
    if not isinstance(value, dict):
        raise MetadataError(f"metadata must be a JSON object, got {type(value).__name__}")
    stack: list[tuple[Any, int, str]] = [(value, 1, "metadata")]
    while stack:
        node, depth, where = stack.pop()
        if depth > max_depth:
            raise MetadataError(f"metadata nests deeper than the limit of {max_depth} levels")
        is_dict = isinstance(node, dict)
        for k, v in node.items() if is_dict else enumerate(node):
            if is_dict and (not isinstance(k, str) or text_problem(k)):
                check_text(str(k), f"key {where}.{str(k)[:40]!r}")
            if isinstance(v, str):
                if text_problem(v):
                    check_text(v, _path(where, k, is_dict))
            elif isinstance(v, dict | list):
                stack.append((v, depth + 1, _path(where, k, is_dict)))
            elif isinstance(v, float):
                if not math.isfinite(v):
                    raise MetadataError(f"{_path(where, k, is_dict)} is {v}: numbers must be finite (JSON has no "
                                        "NaN or Infinity)")
            elif not (v is None or isinstance(v, bool | int)):
                raise MetadataError(f"{_path(where, k, is_dict)} is a {type(v).__name__}, not a JSON value")
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    if size > max_bytes:
        raise MetadataTooLarge(f"metadata is {size} bytes, above the limit of {max_bytes} bytes")
    check_common_fields(value)
    return value


#: The PRD's common metadata fields (FR-3.2: title, description, tags, category, author,
#: copyright; §4 adds language) and their rules: a string of 1..N characters, tags a list
#: of at most 50 strings of 1..50 characters. Custom fields are any JSON value.
COMMON_TEXT_FIELDS = {"title": 200, "description": 5000, "category": 100, "author": 200, "copyright": 200}
MAX_TAGS, MAX_TAG_LENGTH = 50, 50
MAX_METADATA_KEYS, MAX_KEY_LENGTH = 100, 100
#: A language tag (BCP 47 shape: `en`, `pt-BR`, `zh-Hant`).
_LANGUAGE = re.compile(r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8}){0,3}$")


def check_common_fields(value: dict[str, Any]) -> None:
    """The PRD's rules for the common top-level fields (`COMMON_TEXT_FIELDS`, `tags`,
    `language`), at most `MAX_METADATA_KEYS` keys of 1..`MAX_KEY_LENGTH` characters.
    Raises `MetadataError` naming the field and the rule."""
    if len(value) > MAX_METADATA_KEYS:
        raise MetadataError(f"metadata has {len(value)} keys, above the limit of {MAX_METADATA_KEYS}")
    for k in value:
        if not 1 <= len(k) <= MAX_KEY_LENGTH:
            raise MetadataError(f"metadata key {k[:40]!r} must have 1 to {MAX_KEY_LENGTH} characters")
    for name, limit in COMMON_TEXT_FIELDS.items():
        v = value.get(name)
        if v is not None and (not isinstance(v, str) or not 1 <= len(v) <= limit):
            raise MetadataError(f"metadata.{name} must be a string of 1 to {limit} characters")
    tags = value.get("tags")
    if tags is not None and (not isinstance(tags, list) or len(tags) > MAX_TAGS
                             or not all(isinstance(t, str) and 1 <= len(t) <= MAX_TAG_LENGTH for t in tags)):
        raise MetadataError(f"metadata.tags must be a list of at most {MAX_TAGS} strings of 1 to "
                            f"{MAX_TAG_LENGTH} characters")
    lang = value.get("language")
    if lang is not None and (not isinstance(lang, str) or not _LANGUAGE.match(lang)):
        raise MetadataError("metadata.language must be a language tag such as 'en' or 'pt-BR'")


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not JSON (numbers must be finite)")


def parse_metadata(text: str | bytes, max_bytes: int) -> dict[str, Any]:
    """Parse and check user metadata JSON text: its nesting is measured before parsing
    (`json_depth`), so a 10,000-deep document is refused, not recursed into. Raises
    `MetadataError`."""
    if len(text) > max_bytes * 4:
        raise MetadataTooLarge(f"metadata text is {len(text)} bytes, far above the limit of {max_bytes} bytes")
    if json_depth(text, MAX_METADATA_DEPTH) > MAX_METADATA_DEPTH:
        raise MetadataError(f"metadata nests deeper than the limit of {MAX_METADATA_DEPTH} levels")
    try:
        value = json.loads(text, parse_constant=_no_constants)
    except (ValueError, UnicodeDecodeError) as e:
        raise MetadataError(f"metadata is not valid JSON: {e}") from e
    return check_metadata(value, max_bytes)


class UnknownModel(MetadataError):
    """`whisper_model` names a model that is not installed (the message lists those that are)."""


def check_model(model: str | None, installed: list[str]) -> None:
    """Raise `UnknownModel` unless `model` (a job's `whisper_model`; None: the PRD rule
    chooses) is one of the `installed` names (`media.whisper_models.installed_names`): a job
    never silently gets another model than the one it asked for."""
    if model is not None and model not in installed:
        raise UnknownModel(f"whisper_model {model!r} is not installed here; installed: "
                           f"{', '.join(installed) or 'none'}")


def options_from_metadata(metadata: dict[str, Any], base: JobOptions | None = None,
                          installed: list[str] | None = None) -> JobOptions:
    """Job options the PRD reads from user metadata: `priority` (1..10),
    `transcription_language`, `whisper_model` (one of `installed`, when given: `check_model`).
    Raises `MetadataError` on a bad value."""
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
    if installed is not None:
        check_model(model, installed)
    return JobOptions(priority=prio, webhook_url=o.webhook_url, transcription_language=lang, whisper_model=model,
                      thumbnail_key=o.thumbnail_key, api_key_id=o.api_key_id)


#: Prefixes of the pipeline's own bucket that no reference may name, whatever the settings
#: say: originals (other tenants' uploads among them), sidecars, outputs (DESIGN.md layout).
PIPELINE_PREFIXES = ("raw/", "meta/", "processed/")


def reference_allowed(patterns: list[str], pipeline_bucket: str, owner: str | None, bucket: str,
                      key: str) -> bool:
    """May a caller submit the existing object `bucket/key` by reference (`POST /jobs/minio`)?

    `patterns` are `bucket/prefix` strings (`TFLOW_REFERENCE_PREFIXES`) where `{bucket}` is
    the pipeline's bucket and `{owner}` the caller's API key id; the admin key (`owner`
    None) matches `{owner}` with any one path segment. Keys with empty, `.` or `..`
    segments never match (a store may normalise them into another folder), nor does
    anything under `PIPELINE_PREFIXES` of the pipeline's bucket."""
    parts = key.split("/")
    if any(p in ("", ".", "..") for p in parts) or "\\" in key:
        return False
    if bucket == pipeline_bucket and key.startswith(PIPELINE_PREFIXES):
        return False
    target = f"{bucket}/{key}"
    for pattern in patterns:
        filled = re.escape(pattern.replace("{bucket}", pipeline_bucket))
        owner_rx = re.escape(owner) if owner is not None else "[^/]+"
        if re.match(filled.replace(re.escape("{owner}"), owner_rx), target):
            return True
    return False
