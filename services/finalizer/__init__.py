"""finalizer: the multivariant playlist (rewritten as variants become ready, with subtitles
once the transcript exists) and the job's metadata.json at the end."""

from __future__ import annotations

from typing import TYPE_CHECKING

from contracts import layout
from runtime.worker.declaration import Consumer, Service

if TYPE_CHECKING:
    from runtime.worker.runner import HandlerFactory

NAME = "finalizer"


def _handler() -> HandlerFactory:
    from services.finalizer.handler import Finalizer

    return Finalizer


SERVICE = Service(
    name=NAME,
    consumers=(Consumer(
        stream="FINALIZE", durable=NAME, handler=_handler, split="partition", partitions=8, max_ack_pending=1,
        filter_subjects=("finalize.*.>",),
        description="finalizer: any task completed/failed or replay -> master.m3u8 rewrite; all done -> "
                    "metadata.json. One partition per consumer (_0.._7), one message at a time each: a job's "
                    "facts in order, 8 jobs in parallel"),),
    publishes=("$JS.API.STREAM.MSG.GET.FINALIZE",),
    tasks=(layout.METADATA_TASK,), cancels=True,
)
