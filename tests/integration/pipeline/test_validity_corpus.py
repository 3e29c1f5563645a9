"""Every valid file completes; every invalid one is refused with its precise reason, at the
door and in ingest alike (issue 27). The corpus (`tests.support.corpus`) is generated here
from the real media: MPEG-PS, VOB, Ogg/Theora, MXF, NUT, Y4M, M2TS/MTS, 3GP/3G2, a static
1 fps clip, 32 audio tracks, extreme VFR; audio-only files, playlists, raw streams, a frame
at 86,000 s, a 15000x15000 frame."""

from __future__ import annotations

import pytest

from tests.integration.conftest import job_by_key
from tests.support.corpus import INVALID, VALID, make

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    for case in (*VALID, *INVALID):
        make(case, folder)
    return folder


async def test_every_valid_kind_of_file_completes(stack, pool, corpus_dir):
    for case in VALID:
        stack.drop(corpus_dir / case.name, f"corpus-{case.name}")
    outcome: dict[str, str] = {}
    for case in VALID:
        name = f"corpus-{case.name}"
        job = await job_by_key(pool, f"raw/{name}", ("completed", "failed"), timeout=300)
        outcome[case.name] = job["status"] if job["status"] == "completed" else \
            f"{job['status']}: {job['error_code']}: {job['error_message']}"
        assert stack.wait_filed(name, 30) == "done"  # accepted by ingest, kept byte for byte
        assert (stack.inbox / "done" / name).read_bytes() == (corpus_dir / case.name).read_bytes()
    print("\nvalid corpus:", "\n".join(f"  {n}: {o}" for n, o in outcome.items()))
    assert all(o == "completed" for o in outcome.values()), outcome


def _raw_names(stack) -> set[str]:
    return {o.object_name for o in stack.client().list_objects(stack.settings.s3.bucket, prefix="raw/", recursive=True)}


def test_every_invalid_file_is_refused_at_the_door_and_by_validate(app_client, stack, corpus_dir):
    from services.api.verdict import REJECTION_STATUS

    before = _raw_names(stack)
    answers = {}
    for case in INVALID:
        content = (corpus_dir / case.name).read_bytes()
        r = app_client.post("/api/v1/jobs/upload", files={"file": (f"door-{case.name}", content)})
        status = REJECTION_STATUS.get(case.expect, 422)
        assert (r.status_code, r.json()["error"]["code"]) == (status, case.expect), (case.name, r.text)
        message = r.json()["error"]["message"]
        assert message[:1].isupper() and message.endswith(".") and "/tmp" not in message and "Errno" not in message
        v = app_client.post("/api/v1/jobs/validate", files={"file": (case.name, content)})
        assert v.status_code == 200 and v.json()["valid"] is False and v.json()["error"]["code"] == case.expect, v.text
        answers[case.name] = f"{r.status_code} {case.expect}: {message}"
    assert _raw_names(stack) == before, "a refused upload left an object in raw/"
    assert not app_client.facts._last, "a refused upload published nothing"  # type: ignore[attr-defined]
    print("\nat the door:", "\n".join(f"  {n}: {a}" for n, a in answers.items()))


def test_references_are_judged_at_the_door(app_client, stack, corpus_dir):
    flac = (corpus_dir / "speech.flac").read_bytes()
    (stack.fs_root / "speech.flac").write_bytes(flac)
    api = stack.api()  # the API process: its TFLOW_FS_ROOTS name the stack's fsroot
    r = api.post("/api/v1/jobs/filesystem", json={"file_path": str(stack.fs_root / "speech.flac")})
    assert (r.status_code, r.json()["error"]["code"]) == (415, "no_video_stream"), r.text
    key = "uploads/door/list.m3u8"
    stack.client().fput_object(stack.settings.s3.bucket, key, str(corpus_dir / "list.m3u8"))
    r = app_client.post("/api/v1/jobs/minio", json={"bucket": stack.settings.s3.bucket, "object_key": key})
    assert (r.status_code, r.json()["error"]["code"]) == (415, "unsupported_container"), r.text
    assert "HLS playlist (hls)" in r.json()["error"]["message"]
    v = app_client.post("/api/v1/jobs/validate/minio", json={"bucket": stack.settings.s3.bucket, "object_key": key})
    assert v.status_code == 200 and v.json()["error"]["code"] == "unsupported_container"
    mpg = stack.fs_root / "door-mpeg-ps.mpg"
    mpg.write_bytes((corpus_dir / "mpeg-ps.mpg").read_bytes())
    v = api.post("/api/v1/jobs/validate/filesystem", json={"file_path": str(mpg)})
    doc = v.json()
    assert v.status_code == 200 and doc["valid"] is True and doc["error"] is None, v.text
    assert doc["video_info"]["container"] == "mpeg" and doc["video_info"]["resolution"] == "640x480"
    options = doc["transcoding_options"]
    assert [(x["name"], x["width"], x["height"]) for x in options["renditions"]] == [("360p", 480, 360)]
    assert options["audio_mp3"] and "transcode_360p" in options["tasks"]
    assert not app_client.facts._last, "validation creates no job"  # type: ignore[attr-defined]


def test_a_model_that_is_not_installed_is_refused_with_the_installed_list(app_client, corpus_dir):
    content = (corpus_dir / "clip.nut").read_bytes()
    r = app_client.post("/api/v1/jobs/upload", files={"file": ("model.nut", content)},
                        data={"metadata": '{"whisper_model": "small"}'})
    assert (r.status_code, r.json()["error"]["code"]) == (422, "unknown_model"), r.text
    assert "base" in r.json()["error"]["message"] and "tiny.en" in r.json()["error"]["message"]


def test_every_invalid_file_dropped_in_the_inbox_is_filed_with_its_reason(stack, corpus_dir):
    for case in INVALID:
        stack.drop(corpus_dir / case.name, f"drop-{case.name}")
    for case in INVALID:
        name = f"drop-{case.name}"
        assert stack.wait_filed(name, 60) == "failed", name
        assert (stack.inbox / "failed" / name).read_bytes() == (corpus_dir / case.name).read_bytes()
        note = (stack.inbox / "failed" / f"{name}.error.txt").read_text()
        assert note.split(":", 1)[0] == case.expect, (name, note)


async def test_animated_thumbnails_give_their_first_frame(stack, pool, app_client, corpus_dir, tmp_path):
    import subprocess

    from media.run import ffmpeg_binary

    apng, webp = tmp_path / "anim.png", tmp_path / "anim.webp"
    for out, args in ((apng, ["-plays", "0", "-f", "apng"]), (webp, ["-c:v", "libwebp_anim", "-loop", "0"])):
        subprocess.run([ffmpeg_binary(), "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=s=640x360:r=5:d=1",
                        *args, str(out)], check=True)
    # the drop folder: an APNG sidecar
    (stack.inbox / "anim-thumb.nut.thumb.png").write_bytes(apng.read_bytes())
    stack.drop(corpus_dir / "clip.nut", "anim-thumb.nut")
    # the API: an animated WebP
    r = app_client.post("/api/v1/jobs/upload", files={"file": ("anim-webp.nut", (corpus_dir / "clip.nut").read_bytes()),
                                                      "thumbnail": ("t.webp", webp.read_bytes())})
    assert r.status_code == 202, r.text
    job = await job_by_key(pool, "raw/anim-thumb.nut", ("completed", "failed"), timeout=180)
    task = await pool.fetchrow("SELECT * FROM tasks WHERE job_id = $1 AND name = 'thumbnail_custom'", job["id"])
    assert job["status"] == "completed" and task["status"] == "completed", (job["error_message"], dict(task or {}))
    stored = stack.client().list_objects(stack.settings.s3.bucket, prefix="meta/raw/anim-webp", recursive=True)
    assert any(o.object_name.endswith(".thumb.png") for o in stored), "the WebP's first frame is stored as a PNG"
