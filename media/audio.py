"""Decoding a source's audio for speech recognition: 16 kHz mono float32 samples, read
through the restricted open of `media.inputs` (faster-whisper's own `decode_audio` opens
whatever it is given; this is the same PyAV resampling with the open restricted)."""

from __future__ import annotations

from typing import Any

import av
import numpy as np

from media.inputs import SOURCE_DEMUXERS, open_input


def decode_audio(source: str, sample_rate: int = 16000) -> Any:
    """The first audio stream of `source` (a presigned URL or path) as a 1-D float32
    numpy array in [-1, 1) at `sample_rate` Hz, mono. Undecodable frames are skipped (as
    faster-whisper does). Raises `av.FFmpegError`, ValueError when it cannot be opened."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
    chunks: list[Any] = []
    with open_input(source, SOURCE_DEMUXERS) as container:
        frames = container.decode(audio=0)
        while True:
            try:
                frame = next(frames)
            except StopIteration:
                break
            except av.InvalidDataError:
                continue
            frame.pts = None  # resample by samples, not timestamps (a damaged stream may jump)
            chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
        chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(chunks).astype(np.float32) / 32768.0
