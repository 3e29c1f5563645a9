from fractions import Fraction

import pytest

from contracts import AudioInfo
from contracts.prd import PRD_CONTAINERS
from intake.validation import Rejection, plan_tasks, validate
from media.ladder import ladder_for
from media.probe import MediaReading, end_tolerance, real_fps, stated_duration, video_info
from runtime.settings import IntakeSettings

S = IntakeSettings(_env_file=None)


def reading(**kw) -> MediaReading:
    video = kw.pop("video", {})
    v = dict(codec="h264", width=1280, height=720, fps=25.0, pixel_format="yuv420p", rotation=0)
    v.update(video)
    base = dict(container="mov,mp4,m4a,3gp,3g2,mj2", duration_seconds=10.0, bitrate=1_000_000,
                video=video_info(**v), audio=AudioInfo(codec="aac", sample_rate=48000, channels=2))
    base.update(kw)
    return MediaReading(**base)


def rejected(r: MediaReading, size: int = 1000, s: IntakeSettings = S) -> Rejection:
    with pytest.raises(Rejection) as e:
        validate(r, size, s)
    return e.value


def test_valid_reading_gives_probe_with_display_size():
    p = validate(reading(), 1000, S)
    assert (p.video.display_width, p.video.display_height, p.audio.codec) == (1280, 720, "aac")


@pytest.mark.parametrize("size,code", [(0, "empty_file"), (20 * 10**9 + 1, "too_large")])
def test_size_limits(size, code):
    assert rejected(reading(), size).code == code


def test_unreadable_and_no_video():
    assert rejected(MediaReading(open_error="Invalid data found")).code == "unreadable"
    r = rejected(MediaReading(container="mov,mp4,m4a,3gp,3g2,mj2",
                              duration_seconds=6422.0,
                              audio=AudioInfo(codec="aac")))
    assert r.code == "no_video_stream" and "aac" in r.message


def test_container_allowlist_is_by_content_and_a_setting():
    prd = IntakeSettings(_env_file=None, allowed_containers=list(PRD_CONTAINERS))
    r = rejected(reading(container="mpegts"), 1000, prd)
    assert r.code == "unsupported_container" and "TFLOW_ALLOWED_CONTAINERS" in r.message
    assert validate(reading(container="mpegts"), 1000, S).container == "mpegts"  # on by default
    only_mkv = IntakeSettings(_env_file=None, allowed_containers=["mkv"])
    assert rejected(reading(), 1000, only_mkv).code == "unsupported_container"


@pytest.mark.parametrize("duration,code", [(0.31, "too_short"), (86400.5, "too_long"), (None, "unknown_duration")])
def test_duration_limits(duration, code):
    assert rejected(reading(duration_seconds=duration)).code == code


def test_minimum_resolution_either_orientation():
    assert rejected(reading(video={"width": 112, "height": 80})).code == "resolution_too_low"
    assert rejected(reading(video={"width": 640, "height": 358})).code == "resolution_too_low"
    # portrait phone video: 360x640 is fine, as 640x360 is
    assert validate(reading(video={"width": 360, "height": 640}), 10, S).video.display_height == 640
    # rotation swaps the display size
    p = validate(reading(video={"width": 1280, "height": 720, "rotation": 90}), 10, S)
    assert (p.video.display_width, p.video.display_height) == (720, 1280)


def test_anamorphic_display_width():
    p = validate(reading(video={"width": 720, "height": 576, "sample_aspect_ratio": "16:11"}), 10, S)
    assert (p.video.display_width, p.video.display_height) == (1047, 576)


def test_decode_failures():
    assert rejected(reading(first_frame_error="boom")).code == "corrupt"
    assert rejected(reading(end_error="no frame decodes near the stated end")).code == "truncated"


def test_real_fps_ignores_time_base_rate_and_measures():
    # FLV: average rate reads as 1/time_base (1000); 30 frames 1/30 s apart
    pts = [i / 30 for i in range(30)]
    assert real_fps(1000.0, Fraction(1, 1000), pts) == pytest.approx(30.0)
    assert real_fps(24.0, Fraction(1, 1000), pts) == 24.0
    assert real_fps(None, None, []) is None


@pytest.mark.parametrize("w,h,ladder", [(1920, 1080, ["360p", "720p"]), (1080, 720, ["360p", "720p"]),
                                        (1440, 1074, ["360p", "720p"]), (640, 480, ["360p"]),
                                        (960, 400, ["360p"]), (640, 360, ["360p"]), (720, 1280, ["360p", "720p"])])
def test_prd_ladder(w, h, ladder):
    assert ladder_for(validate(reading(video={"width": w, "height": h}), 10, S)) == ladder


def test_plan_has_audio_tasks_only_with_audio():
    with_audio = [t.name for t in plan_tasks(validate(reading(), 10, S))]
    assert with_audio == ["video_360p", "hls_360p", "video_720p", "hls_720p", "thumbnails", "audio_mp3",
                          "transcription", "metadata"]
    silent = [t.name for t in plan_tasks(validate(reading(audio=None), 10, S))]
    assert "audio_mp3" not in silent and "transcription" not in silent and "thumbnails" in silent


def test_stated_duration_uses_header_frame_count_when_longer():
    assert stated_duration(2.04, 98, 23.976) == pytest.approx(4.087, abs=1e-3)  # cut AVI
    assert stated_duration(2.38, 25, 10.505) == 2.38
    assert stated_duration(1.1, 0, 1000.0) == 1.1
    assert (end_tolerance(1.0), end_tolerance(10.0), end_tolerance(600.0)) == (0.5, 1.0, 2.0)


def test_plan_custom_thumbnail_is_optional_and_transcription_a_setting():
    from contracts import JobOptions

    plan = plan_tasks(validate(reading(), 10, S), JobOptions(thumbnail_key="meta/raw/x.jpg"), transcription=False)
    custom = [t for t in plan if t.name == "thumbnail_custom"]
    assert custom and custom[0].optional
    assert "transcription" not in [t.name for t in plan] and plan[-1].name == "metadata"
