"""Spoken-language identification over more than one view of the audio (pure combine).

Whisper identifies the language from one 30 s window. Voice activity detection first
(faster-whisper's `vad_filter`) stitches the speech together, which helps long quiet
recordings but can mislead on short dialogue: on the English `friday` clip `base`
reads Italian (0.32, English 0.27) from the stitched speech and English (0.53) from the
window as it is. The two distributions are averaged (`combined_language`), which on every
speech clip of `../shared/media` gives English (README, Transcriber).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def combined_language(distributions: Sequence[Iterable[tuple[str, float]]]) -> tuple[str, float]:
    """`(language, probability)` of the mean of several `(language, probability)` lists
    (each a model's distribution over languages for one view of the audio): the language
    with the highest mean, and that mean. Raises ValueError when there is none."""
    totals: dict[str, float] = {}
    for dist in distributions:
        for lang, p in dist:
            totals[lang] = totals.get(lang, 0.0) + float(p) / len(distributions)
    if not totals:
        raise ValueError("no language distribution to combine")
    best = max(totals, key=lambda lang: totals[lang])
    return best, round(totals[best], 4)


def detect_language(model: Any, audio: Any) -> tuple[str, float]:
    """The language of `audio` (16 kHz mono samples) by the faster-whisper `model`: its
    distributions over the raw first window and over the speech found by voice activity
    detection, combined (`combined_language`). Blocking (runs the model twice)."""
    views = [model.detect_language(audio, vad_filter=vad)[2] for vad in (False, True)]
    return combined_language(views)
