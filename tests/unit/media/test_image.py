"""User still images (custom thumbnails): a still is kept as it is, an animated PNG or WebP
gives its first frame as a PNG, a bomb or a non-image is refused (no servers)."""

import io
import subprocess

import pytest
from PIL import Image

from media.image import ImageRefused, first_still, still_image
from media.run import ffmpeg_binary


def _make(tmp_path, name: str, *args: str) -> bytes:
    out = tmp_path / name
    subprocess.run([ffmpeg_binary(), "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=s=320x240:r=5:d=1",
                    *args, str(out)], check=True)
    return out.read_bytes()


def test_an_animated_png_or_webp_gives_its_first_frame(tmp_path):
    apng = _make(tmp_path, "a.png", "-plays", "0", "-f", "apng")
    webp = _make(tmp_path, "a.webp", "-c:v", "libwebp_anim", "-loop", "0")
    with pytest.raises(ImageRefused):
        still_image(webp, 40_000_000)  # FFmpeg does not decode animated WebP: what failed the job before
    for data in (apng, webp):
        still, codec, w, h = first_still(data, 40_000_000)
        assert (codec, w, h) == ("png", 320, 240)
        with Image.open(io.BytesIO(still)) as img:
            assert img.format == "PNG" and getattr(img, "n_frames", 1) == 1


def test_a_still_is_kept_byte_for_byte_and_limits_hold(tmp_path):
    jpg = _make(tmp_path, "s.jpg", "-frames:v", "1")
    assert first_still(jpg, 40_000_000) == (jpg, "mjpeg", 320, 240)
    with pytest.raises(ImageRefused, match="above the limit"):
        first_still(_make(tmp_path, "b.png", "-plays", "0", "-f", "apng"), 1000)
    with pytest.raises(ImageRefused, match="not a JPG, PNG or WebP"):
        first_still(b"not an image" * 10, 40_000_000)
