"""Where the shared real media lives; tests skip with a clear message when it is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

#: The repository's root (this checkout).
REPO_ROOT = Path(__file__).resolve().parents[1]
MEDIA = (REPO_ROOT.parent / "shared" / "media").resolve()


def media(rel: str) -> Path:
    """Path of `rel` under ../shared/media; skips the test when the folder is missing."""
    if not MEDIA.is_dir():
        pytest.skip(f"real test media not found at {MEDIA} (expected ../shared/media beside the repo)")
    p = MEDIA / rel
    assert p.exists(), f"{p} is listed by the test but missing from the media folder"
    return p


def media_files(folder: str) -> list[str]:
    """Names of the media files in `folder` (no sidecars); [] when the media folder is missing."""
    d = MEDIA / folder
    if not d.is_dir():
        return []
    return sorted(p.name for p in d.iterdir() if p.suffix not in (".vtt", ".srt", ".md", ".transcription"))
