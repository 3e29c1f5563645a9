"""transcriber process."""

from __future__ import annotations

from runtime.worker.runner import serve_consumers
from runtime.worker.service import run_service
from services.transcriber.handler import SERVICE, Transcriber


def main() -> None:
    """Entry point of `tflow run transcriber` / `python -m services.transcriber`."""
    run_service(SERVICE, lambda settings, stop: serve_consumers(
        SERVICE, [("JOBS", "transcriber", Transcriber)], settings, stop), background=True)
