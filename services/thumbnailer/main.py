"""thumbnailer process."""

from __future__ import annotations

from runtime.worker.runner import serve_consumers
from runtime.worker.service import run_service
from services.thumbnailer.handler import SERVICE, Thumbnailer


def main() -> None:
    """Entry point of `tflow run thumbnailer` / `python -m services.thumbnailer`."""
    run_service(SERVICE, lambda settings, stop: serve_consumers(
        SERVICE, [("JOBS", "thumbnailer", Thumbnailer)], settings, stop), background=True)
