"""End to end on the real media: drop folder -> raw/ -> ingest -> JOBS -> projector -> Postgres."""

from __future__ import annotations

import hashlib
import json

import av
import pytest

from tests.integration.conftest import ACCEPTED, discard, job_by_key
from tests.media import media, media_files

pytestmark = pytest.mark.integration


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("name", media_files("valid"))
async def test_valid_clip_dropped_becomes_ingested_job_with_pyav_probe(stack, pool, name):
    src = media(f"valid/{name}")
    dropped = f"valid-{name}"
    stack.drop(src, dropped)
    job = await job_by_key(pool, f"raw/{dropped}")
    assert job["status"] in ACCEPTED, (job["error_code"], job["error_message"])
    await discard(stack, job["id"])  # only ingest is under test here
    assert stack.wait_filed(dropped) == "done"
    with av.open(str(src)) as c:
        v = c.streams.video[0]
        assert job["container"] == c.format.name
        assert (job["video_codec"], job["width"], job["height"]) == (v.codec_context.name, v.width, v.height)
        assert job["duration_seconds"] == pytest.approx(c.duration / 1e6, abs=1e-3)
        if c.streams.audio:
            a = c.streams.audio[0].codec_context
            assert (job["audio_codec"], job["audio_sample_rate"]) == (a.name, a.sample_rate)
        else:
            assert job["audio_codec"] is None
    assert job["file_size_bytes"] == src.stat().st_size and job["origin"] == "inbox"
    tasks = {r["name"] for r in await pool.fetch("SELECT name FROM tasks WHERE job_id = $1", job["id"])}
    assert {"video_360p", "hls_360p", "thumbnails"} <= tasks
    assert ("video_720p" in tasks) == (min(job["display_width"], job["display_height"]) >= 720)
    assert ("transcription" in tasks) == (job["audio_codec"] is not None)
    # the original in raw/ is byte-identical
    obj = stack.client().get_object(stack.settings.s3.bucket, f"raw/{dropped}")
    assert sha256(obj.read()) == sha256(src.read_bytes())


def _bad_inputs(tmp_path):
    cases = {f"bad-{n}": (media(f"bad/{n}").read_bytes(), code) for n, code in [
        ("truncated_audio_only.m4b", "no_video_stream"),
        ("vp6_112x80_too_small.flv", "resolution_too_low"),
        ("portrait_3840x2160_0.3s_too_short.mp4", "too_short"),
    ]}
    # edge/mpeg2_1920x1080_mp2.ts is accepted by default now (README, Decisions): the
    # allowlist's refusal is in tests/unit/media/test_probe_files.py
    cases["playlist.m3u8"] = (b"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\nseg.ts\n#EXT-X-ENDLIST\n",
                              "unsupported_container")
    cases["zero.mp4"] = (b"", "empty_file")
    cases["text.mp4"] = (b"definitely not a video\n" * 100, "unreadable")
    whole = media("valid/bbb_1280x720_30s_vp8_vorbis.webm").read_bytes()
    cases["half.webm"] = (whole[: len(whole) // 2], "truncated")
    files = {}
    for name, (data, code) in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        files[name] = (p, code)
    return files


async def test_bad_inputs_are_rejected_with_reason_and_kept(stack, pool, tmp_path):
    files = _bad_inputs(tmp_path)
    for name, (path, _) in files.items():
        stack.drop(path, name)
    for name, (path, code) in files.items():
        job = await job_by_key(pool, f"raw/{name}")
        assert (job["status"], job["error_code"]) == ("failed", code), job["error_message"]
        assert job["error_message"]
        assert stack.wait_filed(name) == "failed"
        note = (stack.inbox / "failed" / f"{name}.error.txt").read_text()
        assert note.startswith(f"{code}: ") and f"raw/{name}" in note
        assert (stack.inbox / "failed" / name).read_bytes() == path.read_bytes()
        kept = stack.client().get_object(stack.settings.s3.bucket, f"raw/{name}").read()
        assert kept == path.read_bytes()


async def test_sidecar_metadata_becomes_user_metadata_and_options(stack, pool):
    src = media("valid/friday_640x480_speech_h264_aac.mp4")
    meta = {"category": "education", "priority": 8, "transcription_language": "en", "tags": ["a", "b"]}
    (stack.inbox / "meta-friday.mp4.json").write_text(json.dumps(meta))
    stack.drop(src, "meta-friday.mp4")
    job = await job_by_key(pool, "raw/meta-friday.mp4")
    await discard(stack, job["id"])
    assert job["user_metadata"] == meta
    assert (job["priority"], job["transcription_language"]) == (8, "en")
    assert stack.wait_filed("meta-friday.mp4") == "done"
    assert (stack.inbox / "done" / "meta-friday.mp4.json").exists()
    # the API finds it by metadata containment later (issue 5); the GIN index exists now
    found = await pool.fetchval("SELECT count(*) FROM jobs WHERE user_metadata @> $1::jsonb",
                                {"category": "education"})
    assert found >= 1


async def test_invalid_sidecar_sends_file_to_failed_without_upload(stack, pool):
    src = media("valid/friday_640x480_speech_h264_aac.mp4")
    (stack.inbox / "badmeta.mp4.json").write_text("[1, 2, 3]")
    stack.drop(src, "badmeta.mp4")
    assert stack.wait_filed("badmeta.mp4") == "failed"
    note = (stack.inbox / "failed" / "badmeta.mp4.error.txt").read_text()
    assert "invalid_metadata" in note and "JSON object" in note
    assert (stack.inbox / "failed" / "badmeta.mp4.json").exists()
    from runtime.storage import store
    assert store.stat(stack.client(), stack.settings.s3.bucket, "raw/badmeta.mp4") is None


async def test_same_name_other_content_never_overwrites_the_original(stack, pool):
    a = media("valid/h264_1080x720_aac.flv")
    b = media("valid/mpeg4asp_960x400_mp3.avi")
    stack.drop(a, "same-name.flv")
    first = await job_by_key(pool, "raw/same-name.flv")
    await discard(stack, first["id"])
    assert stack.wait_filed("same-name.flv") == "done"
    stack.drop(b, "same-name.flv")
    digest = sha256(b.read_bytes())
    second = await job_by_key(pool, f"raw/same-name-{digest[:12]}.flv")
    await discard(stack, second["id"])
    assert first["id"] != second["id"] and second["container"] == "avi"
    kept = stack.client().get_object(stack.settings.s3.bucket, "raw/same-name.flv").read()
    assert sha256(kept) == sha256(a.read_bytes())
    # and the same file dropped again is the same job, not a new one
    stack.drop(a, "same-name.flv")
    await _wait_done_twice(stack, "same-name.flv")
    n = await pool.fetchval("SELECT count(*) FROM jobs WHERE source_key LIKE 'raw/same-name%'")
    assert n == 2


async def _wait_done_twice(stack, name):
    import asyncio
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if (stack.inbox / "done" / f"{name}.1").exists():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"second {name} not filed in done/")
