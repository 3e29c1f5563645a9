"""Transcript formatting, Whisper model selection/assembly, the voice activity gate and (one
test, the real `base` model) language identification on the real speech clips."""

import dataclasses
import shutil
from pathlib import Path

import pytest
import srt
import webvtt

from media.whisper_models import (
    BASE_MODEL_BIN_SIZE,
    Model,
    ModelError,
    assemble_base,
    choose_model,
    prd_size,
)
from services.transcriber.formats import Segment, Word, cues, to_json, to_srt, to_txt, to_vtt, word_count

SEGS = [
    Segment(0.0, 2.5, " Hello there.", [Word(0.0, 0.5, " Hello", 0.9), Word(0.6, 1.0, " there.", 0.8)]),
    Segment(2.0, 4.0, " Overlapping start."),  # starts before the previous ends
    Segment(4.2, 9.9, " Runs past the end."),  # ends after the media
    Segment(5.0, 5.0, "   "),  # empty
]


def test_cues_never_overlap_and_stay_inside_the_duration():
    cs = cues(SEGS, 8.0)
    assert cs == [(0.0, 2.5, "Hello there."), (2.5, 4.0, "Overlapping start."), (4.2, 8.0, "Runs past the end.")]


def test_srt_and_vtt_parse_with_standard_libraries(tmp_path):
    subs = list(srt.parse(to_srt(SEGS, 8.0)))
    assert [s.content for s in subs] == ["Hello there.", "Overlapping start.", "Runs past the end."]
    assert subs[2].end.total_seconds() == 8.0 and subs[1].start.total_seconds() == 2.5
    vtt = tmp_path / "t.vtt"
    vtt.write_text(to_vtt(SEGS, 8.0))
    captions = webvtt.read(str(vtt))
    assert [c.text for c in captions] == ["Hello there.", "Overlapping start.", "Runs past the end."]
    assert captions[0].start == "00:00:00.000" and captions[2].end == "00:00:08.000"


def test_timestamps_over_an_hour():
    long = [Segment(3725.0004, 3726.5, "late")]
    assert "01:02:05,000 --> 01:02:06,500" in to_srt(long, 4000)
    assert "01:02:05.000 --> 01:02:06.500" in to_vtt(long, 4000)


def test_no_speech_gives_empty_transcripts(tmp_path):
    assert to_srt([], 30.0) == "" and to_txt([]) == "" and word_count([]) == 0
    (tmp_path / "e.vtt").write_text(to_vtt([], 30.0))
    assert len(webvtt.read(str(tmp_path / "e.vtt"))) == 0
    import json
    doc = json.loads(to_json([], language="en", language_probability=0.5, model="base", duration=30.0))
    assert doc["segments"] == [] and doc["word_count"] == 0


def test_json_carries_words_and_scores():
    import json
    doc = json.loads(to_json(SEGS[:1], language="en", language_probability=0.99, model="base", duration=8.0))
    assert doc["segments"][0]["words"][1] == {"start": 0.6, "end": 1.0, "word": " there.", "probability": 0.8}
    assert doc["word_count"] == 2 and doc["model"] == "base"


@pytest.mark.parametrize("seconds,size", [(10, "tiny"), (299, "tiny"), (300, "base"), (1799, "base"),
                                          (1800, "small"), (3599, "small"), (3600, "base"), (90000, "base")])
def test_prd_model_rule(seconds, size):
    assert prd_size(seconds) == size


BASE = Model("base", "base", Path("/m/base"), False)
TINY_EN = Model("tiny.en", "tiny", Path("/m/tiny.en"), True)


def test_nearest_installed_model_and_english_only_rule():
    assert choose_model(60, None, None, [BASE, TINY_EN]) == (BASE, "tiny")  # tiny.en cannot detect
    assert choose_model(60, None, "en", [BASE, TINY_EN]) == (TINY_EN, "tiny")
    assert choose_model(60, None, "EN", [BASE, TINY_EN])[0] == TINY_EN
    assert choose_model(2000, None, "en", [BASE, TINY_EN]) == (BASE, "small")  # small not installed -> base
    assert choose_model(60, "base", "en", [BASE, TINY_EN])[0] == BASE  # the job's choice wins
    assert choose_model(60, "large-v3", None, [BASE])[0] == BASE
    with pytest.raises(ModelError, match="auto"):
        choose_model(60, None, None, [TINY_EN])


def test_base_assembly_checks_size_and_hash(tmp_path):
    p1, p2 = tmp_path / "p1", tmp_path / "p2"
    p1.mkdir(), p2.mkdir()
    for n in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (p1 / n).write_text("{}")
    (p1 / "model.bin.part1").write_bytes(b"a" * 10)
    (p2 / "model.bin.part2").write_bytes(b"b" * 10)
    with pytest.raises(ModelError, match=str(BASE_MODEL_BIN_SIZE)):
        assemble_base(tmp_path / "out", p1, p2)
    assert not (tmp_path / "out" / "model.bin").exists() and not (tmp_path / "out" / "model.bin.tmp").exists()


def test_every_installed_model_file_is_verified_before_loading(tmp_path):
    """Security finding 11: `tiny.en` was loaded unchecked. Both installed models pass their
    manifest; a changed byte or an extra file in a model directory is refused."""
    from media.whisper_models import ModelError, installed_models, verify

    models = installed_models(tmp_path / "models")
    assert {m.name for m in models} == {"base", "tiny.en"}
    for m in models:
        verify(m)
    tiny = next(m for m in models if m.name == "tiny.en")
    copy = tmp_path / "tiny.en"
    shutil.copytree(tiny.path, copy)
    forged = dataclasses.replace(tiny, path=copy)
    (copy / "vocabulary.txt").write_bytes((copy / "vocabulary.txt").read_bytes() + b"x")
    with pytest.raises(ModelError, match="vocabulary.txt has sha256"):
        verify(forged)
    shutil.copyfile(tiny.path / "vocabulary.txt", copy / "vocabulary.txt")
    verify(forged)
    (copy / "extra.bin").write_bytes(b"\0")
    with pytest.raises(ModelError, match="unexpected files"):
        verify(forged)


def test_voice_activity_gate_runs_no_model_on_music_and_passes_speech():
    # faster-whisper's Silero VAD on the real clips' audio (no Whisper model loaded)
    from media.audio import decode_audio
    from services.transcriber.handler import SAMPLE_RATE, speech_found
    from tests.media import media

    assert not speech_found(decode_audio(str(media("valid/bbb_1280x720_30s_vp8_vorbis.webm")), SAMPLE_RATE))
    assert speech_found(decode_audio(str(media("valid/friday_640x480_speech_h264_aac.mp4")), SAMPLE_RATE))
    assert not speech_found(decode_audio(str(media("valid/h264_1080x720_aac.flv")), SAMPLE_RATE))  # 1 s of noise


def test_combined_language_is_the_mean_of_the_views():
    from services.transcriber.language import combined_language

    # friday with base: the raw window says English, the stitched speech Italian
    assert combined_language([[("en", 0.529), ("it", 0.201)], [("it", 0.318), ("en", 0.269)]]) == ("en", 0.399)
    assert combined_language([[("fr", 0.9)]]) == ("fr", 0.9)
    with pytest.raises(ValueError):
        combined_language([[]])


def test_every_speech_clip_is_identified_as_english_by_base(tmp_path_factory):
    """Issue 27: `base` read Italian in the English `friday` dialogue (VAD-stitched window
    only). Real model, every speech clip of ../shared/media."""
    from faster_whisper import WhisperModel, decode_audio  # WAV: not a source container, read directly

    from media.whisper_models import installed_models
    from services.transcriber.handler import SAMPLE_RATE
    from services.transcriber.language import detect_language
    from tests.media import media, media_files

    base = next(m for m in installed_models(tmp_path_factory.mktemp("models")) if m.name == "base")
    model = WhisperModel(str(base.path), device="cpu", compute_type="int8", local_files_only=True)
    clips = ["valid/friday_640x480_speech_h264_aac.mp4", *(f"speech/{n}" for n in media_files("speech"))]
    found = {c: detect_language(model, decode_audio(str(media(c)), SAMPLE_RATE)) for c in clips}
    print("\nlanguage identification (base):", found)
    assert all(lang == "en" for lang, _ in found.values()), found
