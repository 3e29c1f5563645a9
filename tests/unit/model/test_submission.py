import pytest

from contracts import JobOptions
from intake.submission import MetadataError, check_metadata, options_from_metadata, parse_metadata


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


def test_the_prd_common_fields_are_validated_by_type_and_length():
    ok = {"title": "My Awesome Video", "description": "A detailed description", "tags": ["tutorial", "python"],
          "category": "education", "author": "John Doe", "copyright": "CC BY-SA 4.0", "language": "en",
          "custom_field": "custom value", "custom_field_2": 123}
    assert check_metadata(ok, 100_000) == ok  # the PRD's example passes as it is
    assert check_metadata({"language": "pt-BR"}, 1000) == {"language": "pt-BR"}
    for bad, words in [({"title": 5}, "metadata.title must be a string of 1 to 200"),
                       ({"title": ""}, "metadata.title"), ({"description": "d" * 5001}, "metadata.description"),
                       ({"tags": "a,b"}, "metadata.tags must be a list"), ({"tags": ["x" * 51]}, "metadata.tags"),
                       ({"tags": [f"t{i}" for i in range(51)]}, "at most 50"), ({"tags": [1]}, "metadata.tags"),
                       ({"category": ["a"]}, "metadata.category"), ({"language": "english!"}, "language tag"),
                       ({"k" * 101: 1}, "1 to 100 characters"), ({f"k{i}": i for i in range(101)}, "101 keys")]:
        with pytest.raises(MetadataError, match=words):
            check_metadata(bad, 100_000)
