"""Transcript files from segments (pure): TXT, SRT (SubRip), WebVTT (W3C), JSON.

Cues never overlap and stay inside the media: each cue starts no earlier than the
previous one ends and ends no later than the duration; a cue left empty by that is
dropped.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Word:
    """A word with its times in seconds and its probability (0..1)."""

    start: float
    end: float
    word: str
    probability: float


@dataclass(frozen=True)
class Segment:
    """A transcribed segment: seconds, text, words, Whisper's avg_logprob and no_speech_prob."""

    start: float
    end: float
    text: str
    words: list[Word] = field(default_factory=list)
    avg_logprob: float | None = None
    no_speech_prob: float | None = None


def cues(segments: list[Segment], duration: float) -> list[tuple[float, float, str]]:
    """(start, end, text) per non-empty segment, clamped: no overlap, inside [0, duration]."""
    out: list[tuple[float, float, str]] = []
    prev_end = 0.0
    for s in sorted(segments, key=lambda s: s.start):
        text = s.text.strip()
        start = max(s.start, prev_end, 0.0)
        end = min(s.end, duration)
        if not text or end <= start:
            continue
        out.append((start, end, text))
        prev_end = end
    return out


def _stamp(seconds: float, sep: str) -> str:
    ms = round(seconds * 1000)
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def to_srt(segments: list[Segment], duration: float) -> str:
    """SubRip: numbered cues, `HH:MM:SS,mmm --> HH:MM:SS,mmm`."""
    blocks = [f"{i}\n{_stamp(a, ',')} --> {_stamp(b, ',')}\n{t}\n" for i, (a, b, t) in
              enumerate(cues(segments, duration), 1)]
    return "\n".join(blocks)


def to_vtt(segments: list[Segment], duration: float) -> str:
    """WebVTT: `WEBVTT` header, `HH:MM:SS.mmm --> HH:MM:SS.mmm` cues."""
    blocks = [f"{_stamp(a, '.')} --> {_stamp(b, '.')}\n{t}\n" for a, b, t in cues(segments, duration)]
    return "WEBVTT\n\n" + "\n".join(blocks)


def to_txt(segments: list[Segment]) -> str:
    """Plain text, one segment per line."""
    lines = [s.text.strip() for s in segments if s.text.strip()]
    return "\n".join(lines) + ("\n" if lines else "")


def word_count(segments: list[Segment]) -> int:
    """Words spoken (word timestamps when present, else whitespace-separated tokens)."""
    return sum(len(s.words) if s.words else len(s.text.split()) for s in segments)


def to_json(segments: list[Segment], *, language: str, language_probability: float, model: str,
            duration: float) -> str:
    """JSON: language, its probability, model, duration (s), word_count, segments with words."""
    return json.dumps({"language": language, "language_probability": language_probability, "model": model,
                       "duration": duration, "word_count": word_count(segments),
                       "segments": [asdict(s) for s in segments]}, ensure_ascii=False, indent=1)
