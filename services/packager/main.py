"""packager process: HLS packaging and the finalizer."""

from __future__ import annotations

from runtime.worker.runner import serve_consumers
from runtime.worker.service import run_service
from services.packager.handler import SERVICE, Finalizer


def main() -> None:
    """Entry point of `tflow run packager` / `python -m services.packager`."""
    run_service(SERVICE, lambda settings, stop: serve_consumers(
        SERVICE, [("FINALIZE", "finalizer", Finalizer)], settings, stop))
