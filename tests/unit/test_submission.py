import pytest

from contracts import JobOptions
from tflow.submission import MetadataError, check_metadata, options_from_metadata, parse_metadata


def test_metadata_must_be_a_bounded_object():
    assert parse_metadata(b'{"category": "education"}', 100) == {"category": "education"}
    for bad, words in [(b"[1]", "JSON object"), (b"{nope", "not valid JSON"), (b'{"a": "' + b"x" * 200 + b'"}', "above the limit")]:
        with pytest.raises(MetadataError, match=words):
            parse_metadata(bad, 100)
    deep: dict = {}
    cur = deep
    for _ in range(10):
        cur["a"] = {}
        cur = cur["a"]
    with pytest.raises(MetadataError, match="nests"):
        check_metadata(deep, 10_000)


def test_options_read_from_metadata():
    o = options_from_metadata({"priority": 9, "transcription_language": "fr", "whisper_model": "base"})
    assert (o.priority, o.transcription_language, o.whisper_model) == (9, "fr", "base")
    assert options_from_metadata({}, JobOptions(priority=3)).priority == 3
    for bad in ({"priority": 11}, {"priority": True}, {"priority": "5"}, {"transcription_language": 7}):
        with pytest.raises(MetadataError):
            options_from_metadata(bad)
