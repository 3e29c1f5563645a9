"""projector: folds the JOBS stream into the Postgres read model (the only writer of job state)."""

from __future__ import annotations

from runtime.worker.declaration import Serve, Service

NAME = "projector"


def _serve() -> Serve:
    from services.projector.main import serve

    return serve


#: It also runs the retention (`services.projector.cleanup`): its `deleted` and `original_removed` facts.
SERVICE = Service(name=NAME, ordered_reader=True, monitor=True, serve=_serve,
                  publishes=("jobs.*.deleted", "jobs.*.original_removed"))
