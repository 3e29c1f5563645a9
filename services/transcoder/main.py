"""transcoder process."""

from __future__ import annotations

from runtime.worker.runner import serve_consumers
from runtime.worker.service import run_service
from services.transcoder.handler import SERVICE, Transcoder


def main() -> None:
    """Entry point of `tflow run transcoder` / `python -m services.transcoder`."""
    run_service(SERVICE, lambda settings, stop: serve_consumers(
        SERVICE, [("JOBS", "transcoder", Transcoder)], settings, stop))
