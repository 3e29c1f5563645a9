"""metadata.json (PRD §2.6): the job's full record, built from its facts (pure)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from contracts import Ingested, TaskCompleted, prd

#: Version of this document's shape: 2 = the PRD §2.6 names and nesting.
SCHEMA_VERSION = 2


def build_metadata(ing: Ingested, done: dict[str, TaskCompleted | None], master_key: str | None,
                   completed_at: datetime) -> dict[str, Any]:
    """The document written to `processed/<job>/metadata.json`, in the PRD §2.6 shape:
    `job_id`, `created_at`/`completed_at` (ISO 8601 UTC), `processing_time_seconds`,
    `status`, `user_metadata`, `source` (`filename`, `size_bytes`, short `format`,
    `codec`, `resolution`, `duration_seconds`, bits/s, fps, audio fields), `outputs`
    (`prd.metadata_outputs`), `compression_ratio` (with `total_saved_percent`),
    `quality_metrics` (PSNR dB / SSIM). Ours besides: the multivariant playlist, the
    seconds of every task, the options and the raw probe. `done`: each planned task's
    completion or None."""
    finished = [prd.Done(name, list(d.outputs), d.result, d.seconds)
                for name, d in done.items() if d is not None and d.result is not None]
    p, src = ing.probe, ing.source
    filename = src.key.rsplit("/", 1)[-1]
    return {
        "schema_version": SCHEMA_VERSION,
        "job_id": ing.job_id,
        "created_at": ing.at.isoformat(),
        "completed_at": completed_at.isoformat(),
        "processing_time_seconds": round((completed_at - ing.at).total_seconds(), 3),
        "status": "completed",
        "user_metadata": ing.user_metadata,
        "source": {
            "filename": filename, "size_bytes": src.size, "format": prd.format_name(p.container, filename),
            "codec": p.video.codec, "resolution": f"{p.video.display_width}x{p.video.display_height}",
            "width": p.video.display_width, "height": p.video.display_height,
            "duration_seconds": p.duration_seconds, "bitrate": p.bitrate, "fps": p.video.fps,
            "audio_codec": p.audio.codec if p.audio else None,
            "audio_bitrate": p.audio.bitrate if p.audio else None,
            "audio_sample_rate": p.audio.sample_rate if p.audio else None,
            "bucket": src.bucket, "key": src.key, "etag": src.etag, "origin": ing.origin,
            "container": p.container, "probe": msgspec.to_builtins(p),
        },
        "outputs": prd.metadata_outputs(finished),
        "master_playlist": master_key,
        "compression_ratio": prd.compression(finished, src.size),
        "quality_metrics": prd.quality_metrics(finished),
        "processing_seconds": {name: d.seconds for name, d in done.items() if d is not None},
        "options": msgspec.to_builtins(ing.options),
    }
