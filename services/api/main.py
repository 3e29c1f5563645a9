"""api process: uvicorn serving `create_app` on `TFLOW_API_HOST:TFLOW_API_PORT`."""

from __future__ import annotations

import os
import shutil

import uvicorn
from fastapi import FastAPI

from runtime.guard import refuse_placeholders
from runtime.observability.logs import setup_logging
from runtime.settings import get_settings
from services.api.app import create_app


def app_factory() -> FastAPI:
    """The app for each uvicorn worker process (settings read from the environment)."""
    settings = get_settings()
    setup_logging("api", settings.logs.level, settings.logs.format)
    return create_app(settings)


def main() -> None:
    """Entry point of `tflow run api` / `python -m services.api`: `TFLOW_API_WORKERS`
    uvicorn worker processes (default: one per core) sharing the port."""
    settings = get_settings()
    setup_logging("api", settings.logs.level, settings.logs.format)
    refuse_placeholders(settings)
    workers = settings.api.workers or os.cpu_count() or 1
    if workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # one /metrics over every worker: prometheus_client's multiprocess mode (files per process)
        # one directory per API master process: two APIs on one data dir never mix or wipe files
        metrics_dir = settings.data_dir.resolve() / "prometheus-api" / str(os.getpid())
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    uvicorn.run("services.api.main:app_factory", factory=True, host=settings.api.host, port=settings.api.port,
                workers=workers, log_config=None, access_log=settings.api.access_log)
