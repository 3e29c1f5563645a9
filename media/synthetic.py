"""A generated test clip (FFmpeg's `testsrc2` pattern and a `sine` tone, lavfi): what
`tflow smoke` uploads to prove a deployment works without any media of its own."""

from __future__ import annotations

from pathlib import Path

import ffmpeg


def test_clip_command(ffmpeg_path: str, out: Path, seconds: float = 5.0, width: int = 640, height: int = 360,
                      fps: int = 25) -> list[str]:
    """The ffmpeg argv writing an H.264/AAC faststart MP4 of `seconds` s at `width`x`height`
    and `fps` frames/s (a moving test pattern, a 440 Hz tone) to `out`."""
    video = ffmpeg.input(f"testsrc2=size={width}x{height}:rate={fps}", f="lavfi", t=seconds)
    audio = ffmpeg.input("sine=frequency=440:sample_rate=48000", f="lavfi", t=seconds)
    stream = ffmpeg.output(video.video, audio.audio, str(out), vcodec="libx264", preset="ultrafast",
                           pix_fmt="yuv420p", g=fps * 2, acodec="aac", movflags="+faststart", shortest=None)
    return [ffmpeg_path, "-v", "error", "-y", *ffmpeg.get_args(stream)]
