"""thumbnailer: thumb_{00,25,50,75,100}.jpg and the submitter's custom thumbnail."""

from __future__ import annotations

from typing import TYPE_CHECKING

from contracts import layout
from runtime.worker.declaration import Consumer, Service

if TYPE_CHECKING:
    from runtime.worker.runner import HandlerFactory

NAME = "thumbnailer"


def _handler() -> HandlerFactory:
    from services.thumbnailer.handler import Thumbnailer

    return Thumbnailer


SERVICE = Service(
    name=NAME,
    consumers=(Consumer(
        stream="JOBS", durable=NAME, handler=_handler, split="priority", max_ack_pending=16,
        filter_subjects=("jobs.*.ingested.*", "jobs.*.replayed.*"),
        description="thumbnailer: ingested or replayed -> thumb_{00,25,50,75,100}.jpg and thumb_custom.jpg; one "
                    "consumer per priority band (_p01.._p10), drained highest first"),),
    tasks=(layout.THUMBNAILS_TASK, layout.CUSTOM_THUMBNAIL_TASK), cancels=True, background=True,
)
