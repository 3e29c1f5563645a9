"""notifier: webhooks on a job's terminal state, signed, retried, recorded."""

from __future__ import annotations

from runtime.worker.declaration import Serve, Service

NAME = "notifier"


def _serve() -> Serve:
    from services.notifier.main import serve

    return serve


SERVICE = Service(name=NAME, serve=_serve)
