"""ingest: object announcements (MinIO notifications, drop folder, sweep, API) -> validated jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from runtime.worker.declaration import Consumer, Service

if TYPE_CHECKING:
    from runtime.worker.runner import Companion, HandlerFactory

NAME = "ingest"


def _handler() -> HandlerFactory:
    from services.ingest.handler import Ingest

    return Ingest


def _companions() -> tuple[Companion, ...]:
    from services.ingest.inbox import watch_inbox
    from services.ingest.sweep import sweep

    return (watch_inbox, sweep)


SERVICE = Service(
    name=NAME,
    consumers=(Consumer(
        stream="MINIO", durable=NAME, handler=_handler, max_ack_pending=64, filter_subjects=("minio.>",),
        description="ingest: object announcements -> received/ingested/rejected facts"),),
    publishes=("jobs.*.received", "jobs.*.ingested.*", "jobs.*.rejected", "minio.announce.inbox",
               "minio.announce.sweep", "$JS.API.STREAM.MSG.GET.MINIO"),
    companions=_companions,
)
