"""api: the REST API over the projected read model (FastAPI + asyncpg)."""

from __future__ import annotations

from collections.abc import Callable

from runtime.worker.declaration import Service

NAME = "api"


def _entry() -> Callable[[], None]:
    from services.api.main import main

    return main


SERVICE = Service(
    name=NAME,
    # the admin routes re-drive dead letters (read from DLQ) as replays or announcements
    publishes=("minio.announce.api", "jobs.*.cancelled", "jobs.*.replayed.*", "jobs.*.deleted",
               "$JS.API.STREAM.MSG.GET.DLQ", "$JS.API.STREAM.MSG.GET.MINIO", "$JS.API.STREAM.MSG.GET.FINALIZE"),
    monitor=True, entry=_entry,
)
