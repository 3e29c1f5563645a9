"""The web UI (`services/api/ui/`): static files served by the API itself at `/ui/`
(same origin, no separate server), `/` redirecting there. hls.js is copied into
`ui/vendor/` from the npm registry's package at its pinned version by `make web`
(web/package-lock.json), with its licence; without it the player uses native HLS."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

UI_DIR = Path(__file__).resolve().parent / "ui"


def mount_ui(app: FastAPI) -> None:
    """Serve the UI at `/ui/` and redirect `/` to it."""
    app.mount("/ui", StaticFiles(directory=UI_DIR, html=True), name="ui")

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=307)
