"""Still images from users (custom thumbnails): judged by their header before any pixel
is decoded, so a small file declaring a huge canvas (a "decompression bomb") is refused
without allocating it; then decoded once to prove it is an image."""

from __future__ import annotations

import io
import warnings

import av

from media.inputs import error_text

#: Pillow format name -> FFmpeg decoder name, for the formats accepted (PRD: JPG/PNG/WebP).
FORMATS = {"JPEG": "mjpeg", "PNG": "png", "WEBP": "webp"}


class ImageRefused(ValueError):
    """Not an accepted still image, or over the pixel budget; the message says which."""


def header_size(data: bytes) -> tuple[str, int, int]:
    """`(pillow_format, width, height)` from the image header alone (Pillow's lazy open
    reads no pixel data). Raises `ImageRefused` when no accepted format is recognised."""
    fmt, width, height, _ = _header(data)
    return fmt, width, height


def _header(data: bytes) -> tuple[str, int, int, int]:
    """`header_size` and the frame count (an animated PNG or WebP has more than one)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's own bomb warning: we judge the size below
            with Image.open(io.BytesIO(data), formats=list(FORMATS)) as img:
                return str(img.format), int(img.size[0]), int(img.size[1]), int(getattr(img, "n_frames", 1))
    except Image.DecompressionBombError as e:
        raise ImageRefused(f"image canvas is far too large ({e})") from e
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise ImageRefused("not a JPG, PNG or WebP image (no such header)") from e


def still_image(data: bytes, max_pixels: int) -> tuple[str, int, int]:
    """`(codec, width, height)` of an accepted still image (FFmpeg decoder name: `mjpeg`,
    `png`, `webp`): the header's canvas must be at most `max_pixels` pixels, then the first
    frame must decode (PyAV, from memory: no file, no URL). Raises `ImageRefused`."""
    fmt, width, height = header_size(data)
    if width * height > max_pixels:
        raise ImageRefused(f"image is {width}x{height} ({width * height} pixels), above the limit of "
                           f"{max_pixels} pixels")
    try:
        with av.open(io.BytesIO(data), mode="r", format=f"{FORMATS[fmt].replace('mjpeg', 'jpeg')}_pipe") as c:
            if not c.streams.video:
                raise ImageRefused("no image in the file")
            for frame in c.decode(c.streams.video[0]):
                if frame.width * frame.height > max_pixels:
                    raise ImageRefused(f"image decodes to {frame.width}x{frame.height}, above {max_pixels} pixels")
                return FORMATS[fmt], frame.width, frame.height
    except av.FFmpegError as e:
        raise ImageRefused(f"image does not decode: {error_text(e).rstrip('.').lower()}") from e
    raise ImageRefused("no frame decodes")


def first_still(data: bytes, max_pixels: int) -> tuple[bytes, str, int, int]:
    """An accepted image as a still: `(bytes, codec, width, height)`. A still JPG/PNG/WebP
    is returned as it is (`still_image`); an animated PNG (APNG) or WebP is judged by its
    header canvas, then its first frame is rendered to a PNG (Pillow: FFmpeg reads APNG
    only with its `apng` demuxer and does not decode animated WebP). Raises `ImageRefused`."""
    from PIL import Image

    fmt, width, height, frames = _header(data)
    if frames <= 1:
        return (data, *still_image(data, max_pixels))
    if width * height > max_pixels:
        raise ImageRefused(f"image is {width}x{height} ({width * height} pixels), above the limit of "
                           f"{max_pixels} pixels")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data), formats=[fmt]) as img:
                img.seek(0)
                out = io.BytesIO()
                img.convert("RGBA" if "A" in img.mode or "transparency" in img.info else "RGB").save(out, "PNG")
    except (OSError, ValueError, EOFError) as e:
        raise ImageRefused(f"the first frame of the animated {fmt} image does not decode") from e
    png = out.getvalue()
    return (png, *still_image(png, max_pixels))
