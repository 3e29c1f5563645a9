"""transcoder: the H.264 ladder (MP4 per rendition), its HLS while it encodes, and the MP3,
one ffmpeg decode per job."""

from __future__ import annotations

from typing import TYPE_CHECKING

from contracts import layout
from media.ladder import LADDER
from runtime.worker.declaration import Consumer, Service

if TYPE_CHECKING:
    from runtime.worker.runner import HandlerFactory

NAME = "transcoder"


def _handler() -> HandlerFactory:
    from services.transcoder.handler import Transcoder

    return Transcoder


SERVICE = Service(
    name=NAME,
    consumers=(Consumer(
        stream="JOBS", durable=NAME, handler=_handler, split="priority", max_ack_pending=16,
        filter_subjects=("jobs.*.ingested.*", "jobs.*.replayed.*"),
        description="transcoder: ingested or replayed -> ladder MP4s and MP3 (one ffmpeg decode per job); one "
                    "consumer per priority band (_p01.._p10), drained highest first"),),
    tasks=(*(layout.video_task(r) for r in LADDER), *(layout.hls_task(r) for r in LADDER), layout.MP3_TASK),
    cancels=True,
)
