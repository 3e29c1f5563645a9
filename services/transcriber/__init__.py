"""transcriber: faster-whisper on CPU (int8, VAD, word timestamps), offline models, TXT/SRT/VTT/JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING

from contracts import layout
from runtime.worker.declaration import Consumer, Service

if TYPE_CHECKING:
    from runtime.worker.runner import HandlerFactory

NAME = "transcriber"


def _handler() -> HandlerFactory:
    from services.transcriber.handler import Transcriber

    return Transcriber


SERVICE = Service(
    name=NAME,
    consumers=(Consumer(
        stream="JOBS", durable=NAME, handler=_handler, split="priority", max_ack_pending=8,
        filter_subjects=("jobs.*.ingested.*", "jobs.*.replayed.*"),
        description="transcriber: ingested (plan has transcription) -> transcript TXT/SRT/VTT/JSON; one consumer "
                    "per priority band (_p01.._p10), drained highest first"),),
    publishes=(f"jobs.*.transcript_text.{layout.TRANSCRIPTION_TASK}",),
    tasks=(layout.TRANSCRIPTION_TASK,), cancels=True, background=True,
)
