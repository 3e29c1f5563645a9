"""api process: uvicorn serving `create_app` on `TFLOW_API_HOST:TFLOW_API_PORT`."""

from __future__ import annotations

import uvicorn

from services.api.app import create_app
from tflow.logs import setup_logging
from tflow.settings import get_settings


def main() -> None:
    """Entry point of `tflow run api` / `python -m services.api`."""
    settings = get_settings()
    setup_logging("api", settings.log_level)
    uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port, log_config=None,
                access_log=False)
