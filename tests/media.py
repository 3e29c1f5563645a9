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


def speech_clip(dest: Path, seconds: float = 10.0) -> Path:
    """`dest` (.mkv): `seconds` of a real 1280x720 video (Big Buck Bunny) with real English
    dialogue on it (the `friday` clip's audio), so a job has both renditions and
    subtitles. Made at run time with ffmpeg (stream copy of the video)."""
    import subprocess

    from media.run import ffmpeg_binary

    subprocess.run([ffmpeg_binary(), "-v", "error", "-y", "-i", str(media("valid/bbb_1280x720_30s_vp8_vorbis.webm")),
                    "-i", str(media("valid/friday_640x480_speech_h264_aac.mp4")), "-t", str(seconds), "-map", "0:v:0",
                    "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac", str(dest)], check=True)
    return dest


def looped_clip(dest: Path, seconds: float, source: str = "valid/bbb_1280x720_30s_vp8_vorbis.webm") -> Path:
    """`dest`: `seconds` of real media made by looping `source` (stream copy, no re-encode),
    for tests and benchmarks that need a longer input than the shared clips."""
    import subprocess

    from media.run import ffmpeg_binary

    subprocess.run([ffmpeg_binary(), "-v", "error", "-y", "-stream_loop", "-1", "-i", str(media(source)),
                    "-t", f"{seconds:g}", "-c", "copy", str(dest)], check=True)
    return dest
