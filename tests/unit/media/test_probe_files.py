"""`read_media` + `validate` on the real files, read locally with PyAV (no servers)."""

import av
import pytest

from contracts.prd import PRD_CONTAINERS
from intake.validation import Rejection, validate
from media.probe import keyframes_at_or_before, read_media
from runtime.settings import IntakeSettings
from tests.media import media, media_files

S = IntakeSettings(_env_file=None)


def verdict(path):
    try:
        return validate(read_media(str(path)), path.stat().st_size, S)
    except Rejection as r:
        return r


@pytest.mark.parametrize("name", media_files("valid"))
def test_valid_files_probe_like_pyav_reads_them(name):
    path = media(f"valid/{name}")
    probe = verdict(path)
    assert not isinstance(probe, Rejection), f"{name}: {probe}"
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        assert (probe.video.codec, probe.video.width, probe.video.height) == (v.codec_context.name, v.width, v.height)
        assert probe.duration_seconds == pytest.approx(c.duration / 1e6, abs=1e-3)
        assert (probe.audio is None) == (not c.streams.audio)


def test_real_frame_rate_and_rotation():
    assert verdict(media("valid/h264_1080x720_aac.flv")).video.fps == pytest.approx(30, abs=0.1)
    phone = verdict(media("valid/phone_1280x720_rot180_vfr.mp4")).video
    assert phone.rotation == 180 and 10 < phone.fps < 11
    hdr = verdict(media("valid/hevc_main10_hdr10_1920x1080.mp4")).video
    assert hdr.bit_depth == 10 and hdr.pixel_format == "yuv420p10le"


@pytest.mark.parametrize("name,code", [
    ("bad/truncated_audio_only.m4b", "no_video_stream"),
    ("bad/vp6_112x80_too_small.flv", "resolution_too_low"),
    ("bad/portrait_3840x2160_0.3s_too_short.mp4", "too_short"),
])
def test_bad_files_rejected_with_reason(name, code):
    r = verdict(media(name))
    assert isinstance(r, Rejection) and r.code == code, r


def test_mpeg_ts_is_accepted_by_default_and_refused_by_the_prd_allowlist():
    ts = media("edge/mpeg2_1920x1080_mp2.ts")
    assert verdict(ts).container == "mpegts"
    prd = IntakeSettings(_env_file=None, allowed_containers=list(PRD_CONTAINERS))
    with pytest.raises(Rejection) as r:
        validate(read_media(str(ts)), ts.stat().st_size, prd)
    assert r.value.code == "unsupported_container" and "mpegts" in r.value.message


def test_classic_bad_inputs(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    assert verdict(empty).code == "empty_file"
    assert verdict(text).code == "unreadable"


@pytest.mark.parametrize("name", media_files("valid"))
def test_every_valid_file_cut_in_half_is_rejected(name, tmp_path):
    src = media(f"valid/{name}").read_bytes()
    half = tmp_path / name
    half.write_bytes(src[: len(src) // 2])
    r = verdict(half)
    assert isinstance(r, Rejection) and r.code in ("truncated", "unreadable"), r


def test_a_webm_without_a_stated_duration_is_measured_and_accepted(tmp_path):
    """Reliability finding: a 1280x720 VP9/Opus WebM whose header states no duration (what
    browsers' MediaRecorder writes: the muxer cannot seek back) was `unknown_duration`. Made
    here from real media by muxing into a pipe, so no duration and no cues are written."""
    import subprocess

    from media.run import ffmpeg_binary

    out = tmp_path / "recording.webm"
    with out.open("wb") as f:
        subprocess.run([ffmpeg_binary(), "-v", "error", "-t", "3", "-i", str(media("valid/bbb_1280x720_30s_vp8_vorbis.webm")),
                        "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "1M",
                        "-c:a", "libopus", "-f", "webm", "pipe:1"], stdout=f, check=True, timeout=120)
    with av.open(str(out)) as c:
        assert c.duration is None and c.streams.video[0].duration is None  # nothing stated
    reading = read_media(str(out))
    assert reading.duration_measured and reading.duration_seconds == pytest.approx(3.0, abs=0.1)
    probe = verdict(out)
    assert not isinstance(probe, Rejection), probe
    assert (probe.video.codec, probe.video.width, probe.audio.codec) == ("vp9", 1280, "opus")


def test_keyframes_at_or_before_are_real_keyframes_no_later_than_asked():
    path = str(media("valid/hevc_1440x1074_noaudio_subs.mkv"))
    asked = [15.0, 30.0, 45.0]
    found = keyframes_at_or_before(path, asked)
    with av.open(path) as c:
        v = c.streams.video[0]
        keys = sorted(float(p.pts * v.time_base) for p in c.demux(v) if p.is_keyframe and p.pts is not None)
    for t, k in zip(asked, found, strict=True):
        assert k is not None and k <= t and any(abs(k - key) < 1e-3 for key in keys)
        assert not any(k + 1e-3 < key <= t for key in keys)  # the last keyframe at or before t
