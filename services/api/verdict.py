"""Verdicts at the door (PRD §6.1 category 1: invalid format, corrupt, too large,
resolution too low, missing: "return error immediately"): an upload (once spooled), an
object referenced in a bucket or a file under a server root is judged by the same rules as
ingest (`intake.validation.judge_source`) before the API answers, so a refused file makes
no job and leaves nothing in `raw/`. Ingest still judges whatever lands by other paths."""

from __future__ import annotations

import asyncio
from typing import Any

from contracts import Probe, layout, prd
from intake.validation import Rejection, judge_source, plan_tasks
from media.ladder import encoding_ladder, ladder_for, output_size
from readmodel.documents import video_info_view
from readmodel.rows import probe_columns
from runtime.settings import Settings
from services.api.errors import ApiError

#: HTTP status of a refused file by reason code (RFC 9110 §15.5): too large 413, a format
#: that is not a video the pipeline takes 415, every other broken rule 422.
REJECTION_STATUS = {"too_large": 413, "unsupported_container": 415, "no_video_stream": 415}


def refusal(r: Rejection) -> ApiError:
    """The API error of a `Rejection`: its reason code as `error.code`, its sentence."""
    return ApiError(REJECTION_STATUS.get(r.code, 422), r.code, r.message, {"reason": r.code})


async def judged(source: str, size_bytes: int, settings: Settings) -> Probe:
    """The `Probe` of `source` (a local path or a presigned URL) of `size_bytes`, judged in
    a thread; raises `ApiError` (`refusal`) with the reason when it would be rejected."""
    try:
        return await asyncio.to_thread(judge_source, source, size_bytes, settings.intake)
    except Rejection as r:
        raise refusal(r) from r


def validation_document(filename: str, size_bytes: int, settings: Settings, probe: Probe | None = None,
                        rejection: Rejection | None = None) -> dict[str, Any]:
    """The validation answer (PRD FR-1.2; `services.api.models.Validation`) of a file
    judged valid (`probe`) or refused (`rejection`)."""
    if probe is None:
        error = {"code": rejection.code, "message": rejection.message} if rejection is not None else None
        return {"valid": False, "filename": filename, "video_info": None, "transcoding_options": None,
                "error": error}
    row = {**probe_columns(probe), "original_filename": filename, "file_size_bytes": size_bytes}
    ladder = encoding_ladder(settings.media.encoding_profile)
    audio = probe.audio is not None
    renditions = []
    for name in ladder_for(probe):
        r = ladder[name]
        w, h = output_size(probe.video.display_width, probe.video.display_height, r.height)
        renditions.append({"name": name, "width": w, "height": h, "profile": r.profile, "level": r.level,
                           "crf": r.crf, "audio_bitrate": r.audio_bitrate if audio else None,
                           "audio_sample_rate": r.audio_sample_rate if audio else None})
    plan = plan_tasks(probe, None, settings.media.transcription)
    return {"valid": True, "filename": filename, "video_info": video_info_view(row), "error": None,
            "transcoding_options": {
                "renditions": renditions, "audio_mp3": audio, "transcription": audio and settings.media.transcription,
                "thumbnail_positions_percent": list(layout.THUMBNAIL_POSITIONS),
                "tasks": [prd.VALIDATE_TASK, *(prd.prd_task_name(t.name) for t in plan)]}}
