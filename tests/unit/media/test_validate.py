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


def test_the_resource_budget_and_implausible_timestamps():
    r = rejected(reading(video={"width": 15000, "height": 15000}))
    assert r.code == "resolution_too_high" and "15000x15000" in r.message
    # 4K at 60 fps for 23 h passes the 24 h limit but not the pixel-frame budget (24 h of 1080p60)
    assert rejected(reading(duration_seconds=23 * 3600.0, video={"width": 3840, "height": 2160, "fps": 60.0})
                    ).code == "over_budget"
    assert validate(reading(duration_seconds=23 * 3600.0, video={"width": 1920, "height": 1080, "fps": 60.0}),
                    10, S).duration_seconds == 23 * 3600.0
    small = IntakeSettings(_env_file=None, max_pixel_frames=1e6)
    assert rejected(reading(), 1000, small).code == "over_budget"
    gap = rejected(reading(timestamp_gap=(1.93, 86000.0)))
    assert gap.code == "implausible_timestamps" and "86000.00 s" in gap.message
    # 61 frames stated for 86,000 s at 30 fps: the duration is not the content's
    assert rejected(reading(duration_seconds=86000.0, frames=61, video={"fps": 30.0})).code == "implausible_timestamps"
    assert validate(reading(frames=250), 10, S).duration_seconds == 10.0  # 10 s at 25 fps


@pytest.mark.parametrize("detected, code, words", [
    ("flac", "no_video_stream", "audio only (flac)"),
    ("mp3", "no_video_stream", "audio only (mp3)"),
    ("hls", "unsupported_container", "an HLS playlist (hls)"),
    ("concat", "unsupported_container", "an FFmpeg concat list (concat)"),
    ("png_pipe", "unsupported_container", "a PNG image (png_pipe)"),
    ("rm", "unsupported_container", "a RealMedia file (rm)"),
    ("bink", "unsupported_container", "the format 'bink'"),
    (None, "unreadable", "cannot be read as any accepted container"),
    ("mov,mp4,m4a,3gp,3g2,mj2", "unreadable", "cannot be read as mov,mp4"),  # an accepted one that fails to open
])
def test_a_file_the_allowlist_cannot_open_is_named_by_what_ffmpeg_detects(detected, code, words):
    r = rejected(MediaReading(open_error="Invalid data found when processing input", detected=detected))
    assert r.code == code and words in r.message, r.message
    assert r.message[:1].isupper() and r.message.endswith(".")


def test_every_reason_is_a_whole_sentence():
    for r in (reading(duration_seconds=0.31), reading(video={"width": 112, "height": 80}),
              reading(first_frame_error="Invalid data found when processing input"),
              reading(end_error="data ends at 3.00 s, but the stated duration is 6.00 s: the file is truncated"),
              MediaReading(container="mov,mp4,m4a,3gp,3g2,mj2", duration_seconds=6.0)):
        message = rejected(r).message
        assert message[:1].isupper() and message.endswith(".") and ".." not in message, message
    assert rejected(reading(), 0).message == "The file is empty (0 bytes)."


def test_ffmpeg_names_the_format_of_a_files_first_bytes():
    from media.detect import detected_format

    assert detected_format(b"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\na.ts\n") == "hls"
    assert detected_format(b"ffconcat version 1.0\nfile a.mp4\n") == "concat"
    assert detected_format(b"fLaC\x00\x00\x00\x22" + bytes(64)) == "flac"
    assert detected_format(b"this is not a video\n" * 50) is None
    assert detected_format(b"") is None
