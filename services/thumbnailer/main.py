"""thumbnailer process."""

from __future__ import annotations

from services.thumbnailer.service import SERVICE, Thumbnailer
from tflow.runner import serve_consumers
from tflow.service import run_service


def main() -> None:
    """Entry point of `tflow run thumbnailer` / `python -m services.thumbnailer`."""
    run_service(SERVICE, lambda s, stop: serve_consumers(SERVICE, [("JOBS", "thumbnailer", Thumbnailer)], s, stop))
