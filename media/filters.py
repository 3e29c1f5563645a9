"""Shared pieces of every ffmpeg graph (pure, ffmpeg-python): the input of a path or
presigned URL, the output size of a rung, and the video normalisation that encodes,
quality measurements and thumbnails all apply the same way."""

from __future__ import annotations

from typing import Any

import ffmpeg

from contracts import Probe
from media.inputs import SOURCE_DEMUXERS, input_options

#: Input options for a presigned HTTP(S) URL: reconnect on drops.
HTTP_INPUT = {"reconnect": 1, "reconnect_streamed": 1, "reconnect_on_network_error": 1, "reconnect_delay_max": 10}


def source_input(source: str, demuxers: str = SOURCE_DEMUXERS, **extra: object) -> Any:
    """`ffmpeg.input` of a path or presigned URL (HTTP gets reconnect options), restricted
    to `demuxers` and the source's own protocol (`media.inputs`). Raises ValueError for a
    source of another scheme."""
    opts: dict[str, object] = dict(HTTP_INPUT) if source.startswith(("http://", "https://")) else {}
    opts.update(input_options(source, demuxers))
    opts.update(extra)
    return ffmpeg.input(source, **opts)


def normalise_filters(probe: Probe) -> list[tuple[str, dict[str, object]]]:
    """The filters (name, options) that normalise decoded video of `probe`, in order:
    deinterlace interlaced sources (bwdif), tone-map HDR (PQ/HLG) to SDR BT.709 (zscale +
    hable); rotation is applied by ffmpeg's autorotate before these. Empty for progressive
    SDR video."""
    filters: list[tuple[str, dict[str, object]]] = []
    if probe.video.interlaced:
        filters.append(("bwdif", {"mode": "send_frame", "deint": "interlaced"}))
    if probe.video.hdr:
        filters += [("zscale", {"t": "linear", "npl": 100}), ("format", {"pix_fmts": "gbrpf32le"}),
                    ("zscale", {"p": "bt709"}), ("tonemap", {"tonemap": "hable", "desat": 0}),
                    ("zscale", {"t": "bt709", "m": "bt709", "r": "tv"})]
    return filters


def normalise_video(stream: Any, probe: Probe) -> Any:
    """`stream` (ffmpeg-python) through `normalise_filters(probe)`."""
    for name, options in normalise_filters(probe):
        stream = stream.filter(name, **options)
    return stream


#: Characters with a meaning in a filtergraph description (FFmpeg filters docs, "Notes on
#: filtergraph escaping"); a value holding one is refused rather than escaped.
_GRAPH_SPECIAL = set("\\'[]=:;,| ")


def option_list(options: dict[str, object], reserved: set[str], what: str) -> str:
    """`k=v:k=v`, the option syntax of ffmpeg's filtergraphs and tee slaves. Raises
    ValueError for a value holding one of the `reserved` characters (refused, not escaped),
    naming it as a `what` option."""
    parts = []
    for key, value in options.items():
        text = str(value)
        if reserved & set(text):
            raise ValueError(f"{what} option {key}={text!r} holds a reserved character")
        parts.append(f"{key}={text}")
    return ":".join(parts)


def filter_text(name: str, **options: object) -> str:
    """One filter of a filtergraph description, `name=k=v:k=v` (FFmpeg filters docs,
    "Filtergraph syntax"). Raises ValueError for a value holding a character of that
    syntax (a caller-chosen path with `:` or `,`, say)."""
    return f"{name}={option_list(options, _GRAPH_SPECIAL, 'filter')}" if options else name
