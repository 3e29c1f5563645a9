"""ffmpeg argument lists, progress parsing, playlists and metadata: pure, no ffmpeg run."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import m3u8
import msgspec
import pytest

from contracts import (
    AudioInfo,
    HlsResult,
    Ingested,
    ObjectRef,
    OutputInfo,
    PlannedTask,
    Probe,
    TaskCompleted,
    Thumbnail,
    ThumbnailsResult,
    VideoInfo,
    VideoResult,
)
from media.encode import gop_frames, quality_subsample, read_quality, tee_slave, transcode_command
from media.hls import (
    IFrame,
    Subtitles,
    Variant,
    bandwidths,
    finished_playlist,
    hls_webvtt,
    iframe_bandwidths,
    iframe_playlist,
    multivariant_playlist,
    subtitles_playlist,
)
from media.ladder import LADDER, output_size
from media.run import parse_progress_block
from media.thumbnail import frames_command, thumbnail_command, thumbnail_plan, thumbnail_times
from services.finalizer.metadata import build_metadata

AT = datetime(2026, 11, 22, tzinfo=UTC)


def probe(w=1920, h=1080, fps=50.0, audio=True, hdr=False, interlaced=False, dw=None, dh=None) -> Probe:
    return Probe(container="mov,mp4,m4a,3gp,3g2,mj2", duration_seconds=2.0, size_bytes=1000,
                 video=VideoInfo(codec="h264", width=w, height=h, display_width=dw or w, display_height=dh or h,
                                 fps=fps, hdr=hdr, interlaced=interlaced),
                 audio=AudioInfo(codec="aac") if audio else None)


def args_after(cmd: list[str], output: str) -> list[str]:
    """The options between the previous output (or -filter_complex) and `output`."""
    end = cmd.index(output)
    start = max(i for i, a in enumerate(cmd[:end]) if a.startswith("[") and a.endswith("]") and cmd[i - 1] == "-map")
    return cmd[start - 1:end]


def opt(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


OUTS = {"360p": Path("/w/video_360p.mp4"), "720p": Path("/w/video_720p.mp4")}


def test_ladder_command_follows_prd_and_aligns_gops():
    cmd = transcode_command("ffmpeg", "http://s3/x.mov", probe(), list(LADDER.values()), OUTS, Path("/w/audio.mp3"))
    assert cmd[0] == "ffmpeg" and cmd.count("-i") == 1, "one decode for every output"
    assert "-reconnect" in cmd and "-progress" in cmd and cmd[cmd.index("-progress") + 1] == "pipe:1"
    graph = opt(cmd, "-filter_complex")
    assert "split=2" in graph and "scale=640:360" in graph and "scale=1280:720" in graph
    assert graph.count("setsar=1") == 2 and graph.count("format=yuv420p") == 2
    assert "zscale" not in graph and "bwdif" not in graph
    a360, a720 = args_after(cmd, "/w/video_360p.mp4"), args_after(cmd, "/w/video_720p.mp4")
    for a, crf, prof, lvl, abr, ar in ((a360, "23", "main", "3.1", "96000", "44100"),
                                      (a720, "22", "high", "4.0", "128000", "48000")):
        assert (opt(a, "-c:v"), opt(a, "-preset"), opt(a, "-crf")) == ("libx264", "medium", crf)
        assert (opt(a, "-profile:v"), opt(a, "-level:v")) == (prof, lvl)
        assert (opt(a, "-c:a"), opt(a, "-b:a"), opt(a, "-ar"), opt(a, "-ac")) == ("aac", abr, ar, "2")
        assert (opt(a, "-g"), opt(a, "-keyint_min"), opt(a, "-sc_threshold")) == ("100", "100", "0")
        assert opt(a, "-force_key_frames") == "expr:gte(t,n_forced*2)"
        assert opt(a, "-movflags") == "+faststart" and opt(a, "-fps_mode") == "vfr" and opt(a, "-enc_time_base") == "1/90000"
    mp3 = cmd[cmd.index("/w/video_720p.mp4") + 1: cmd.index("/w/audio.mp3")]
    assert (opt(mp3, "-c:a"), opt(mp3, "-b:a"), opt(mp3, "-ar")) == ("libmp3lame", "192000", "48000")
    assert "-vn" in mp3 and opt(mp3, "-map") == "0:a:0"


def test_no_audio_source_has_no_audio_and_no_mp3():
    cmd = transcode_command("ffmpeg", "/src.avi", probe(640, 360, 30.0, audio=False), [LADDER["360p"]],
                            {"360p": OUTS["360p"]}, Path("/w/audio.mp3"))
    assert "-an" in cmd and "0:a:0" not in cmd and "/w/audio.mp3" not in cmd and "-reconnect" not in cmd
    assert "split" not in opt(cmd, "-filter_complex")


def test_hdr_is_tone_mapped_and_interlaced_deinterlaced():
    graph = opt(transcode_command("ffmpeg", "/s", probe(hdr=True, interlaced=True), [LADDER["360p"]],
                                  {"360p": OUTS["360p"]}, None), "-filter_complex")
    assert graph.index("bwdif") < graph.index("zscale") < graph.index("tonemap=desat=0:tonemap=hable")
    assert graph.index("tonemap") < graph.index("scale=640:360")


@pytest.mark.parametrize("dw,dh,target,size", [
    (1920, 1080, 360, (640, 360)), (1080, 720, 360, (540, 360)), (1440, 1074, 360, (482, 360)),
    (1440, 1074, 720, (966, 720)), (720, 1280, 720, (720, 1280)), (1047, 576, 360, (654, 360)),
    (640, 480, 360, (480, 360)),
])
def test_output_size_keeps_display_aspect_with_even_sides(dw, dh, target, size):
    assert output_size(dw, dh, target) == size
    assert all(v % 2 == 0 for v in size)


def test_gop_is_two_seconds_of_frames():
    assert (gop_frames(50.0), gop_frames(29.97), gop_frames(10.5), gop_frames(0)) == (100, 60, 21, 50)


def test_quality_is_measured_inside_the_encode_without_a_second_source_decode(tmp_path):
    logs = {"360p": Path("/w/vmaf_360p.json"), "720p": Path("/w/vmaf_720p.json")}
    long = msgspec.structs.replace(probe(), duration_seconds=60.0)
    cmd = transcode_command("ffmpeg", "http://s3/x.mov", long, list(LADDER.values()), OUTS, Path("/w/audio.mp3"),
                            quality=logs)
    assert cmd.count("-i") == 1  # the source is opened (and decoded) once
    # a loopback decoder per measured output (outputs 0 and 1: the renditions, in ladder order)
    assert [cmd[i + 1] for i, a in enumerate(cmd) if a == "-dec"] == ["0:0", "1:0"]
    graphs = [cmd[i + 1] for i, a in enumerate(cmd) if a == "-filter_complex"]
    assert len(graphs) == 2
    measure = graphs[1]
    assert measure.startswith("[0:v:0]")  # the encode's own decoded source frames
    assert "[dec:0]" in measure and "[dec:1]" in measure and "scale=w=640:h=360" in measure
    assert "log_path=/w/vmaf_360p.json" in measure and "log_fmt=json" in measure
    assert measure.count("setpts=expr=PTS-STARTPTS") == 4  # both timelines of both renditions start at 0
    step = quality_subsample(50.0, 60.0)  # the triplets around every step-th frame, scored at their centre
    assert f"select='lt(mod(n+1\\,{step})\\,3)'" in measure and "n_subsample=3" in measure
    assert "psnr" not in measure
    assert cmd[-5:] == ["-map", "[q1]", "-f", "null", "-"]
    full = transcode_command("ffmpeg", "/src.mov", probe(), [LADDER["360p"]], OUTS, None, quality=logs,
                             vmaf_subsample=1, psnr_ssim=True)
    graph = [full[i + 1] for i, a in enumerate(full) if a == "-filter_complex"][1]
    assert "select" not in graph and "n_subsample=1" in graph and "name=psnr|name=float_ssim" in graph
    with pytest.raises(ValueError, match="reserved character"):
        transcode_command("ffmpeg", "/src.mov", probe(), [LADDER["360p"]], OUTS, None, quality={"360p": Path("/w/a,b")})
    # the step shares no factor with the keyframe interval, so scored frames are not all keyframes
    assert (quality_subsample(24.0), quality_subsample(25.0), quality_subsample(30.0)) == (11, 11, 11)
    assert quality_subsample(22.0) == 13 and quality_subsample(24.0, None, 12) == 13 and quality_subsample(5, None, 1) == 1
    # a short clip is scored on at least MIN_SCORED_FRAMES frames: 2.4 s at 10.5 fps, every frame
    assert quality_subsample(10.5, 2.4) == 1 and quality_subsample(50.0, 2.0) == 7 and quality_subsample(24.0, 30.0) == 11
    log = tmp_path / "vmaf.json"
    log.write_text(json.dumps({"pooled_metrics": {"vmaf": {"mean": 95.12345}, "psnr_y": {"mean": 41.5},
                                                  "float_ssim": {"mean": 0.987}}}))
    assert read_quality(log) == {"vmaf": 95.123, "psnr_db": 41.5, "ssim": 0.987}
    log.write_text(json.dumps({"pooled_metrics": {"vmaf": {"mean": 90.0}}}))
    assert read_quality(log) == {"vmaf": 90.0, "psnr_db": None, "ssim": None}


def test_progress_blocks():
    p = parse_progress_block(["frame=50\n", "out_time_us=1500000\n", "speed=0.75x\n", "progress=continue\n"])
    assert (p.position_seconds, p.speed, p.done) == (1.5, 0.75, False)
    assert p.percent(3.0) == 50.0 and p.eta_seconds(3.0) == 2.0
    end = parse_progress_block(["out_time_us=N/A\n", "speed=N/A\n", "progress=end\n"])
    assert (end.position_seconds, end.speed, end.done, end.percent(3.0), end.eta_seconds(3.0)) == \
        (0.0, None, True, 100.0, 0.0)
    assert parse_progress_block(["out_time_us=9000000\n", "progress=continue\n"]).percent(3.0) == 99.9


def test_each_rendition_is_teed_to_its_mp4_and_an_event_playlist():
    outs = {"360p": Path("/w/video_360p.mp4"), "720p": Path("/w/video_720p.mp4")}
    lists = {"360p": Path("/w/360p/playlist.m3u8"), "720p": Path("/w/720p/playlist.m3u8")}
    cmd = transcode_command("ffmpeg", "/s.mov", probe(), [LADDER["360p"], LADDER["720p"]], outs, None, lists)
    tees = [cmd[i + 1] for i, a in enumerate(cmd) if a == "-f" and cmd[i + 1] == "tee"]
    assert len(tees) == 2 and "-movflags" not in cmd  # faststart moved into the MP4 slave
    spec = next(a for a in cmd if a.startswith("[f=mp4") and "/w/360p/" in a)
    mp4, hls = spec.split("|")
    assert mp4 == "[f=mp4:movflags=+faststart]/w/video_360p.mp4"
    assert hls == ("[f=hls:hls_time=4:hls_list_size=0:hls_playlist_type=event:hls_flags=independent_segments+temp_file"
                   ":hls_segment_filename=/w/360p/segment_%03d.ts]/w/360p/playlist.m3u8")
    plain = transcode_command("ffmpeg", "/s.mov", probe(), [LADDER["360p"]], {"360p": outs["360p"]}, None)
    assert opt(plain, "-movflags") == "+faststart" and "/w/video_360p.mp4" in plain
    with pytest.raises(ValueError, match="reserves"):
        tee_slave({"f": "mp4"}, Path("/w/a|b.mp4"))
    with pytest.raises(ValueError, match="reserved"):
        tee_slave({"f": "mp4", "x": "a:b"}, Path("/w/a.mp4"))


EVENT = """#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:6
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-PLAYLIST-TYPE:EVENT
#EXT-X-INDEPENDENT-SEGMENTS
#EXTINF:6.000000,
segment_000.ts
#EXTINF:1.500000,
segment_001.ts
"""


def test_an_event_playlist_is_finished_as_vod():
    final = m3u8.loads(finished_playlist(EVENT))
    assert final.playlist_type == "vod" and final.is_endlist and [s.uri for s in final.segments] == \
        ["segment_000.ts", "segment_001.ts"]
    ended = finished_playlist(EVENT + "#EXT-X-ENDLIST\n")  # ffmpeg's last write already ends it
    assert ended.count("#EXT-X-ENDLIST") == 1 and "EVENT" not in ended
    assert m3u8.loads(EVENT).playlist_type == "event" and not m3u8.loads(EVENT).is_endlist
    with pytest.raises(ValueError, match="no segment"):
        finished_playlist("#EXTM3U\n#EXT-X-PLAYLIST-TYPE:EVENT\n")


def test_iframe_playlist_addresses_each_keyframe_by_byte_range():
    frames = [IFrame("segment_000.ts", 0.083, 564, 40_000), IFrame("segment_000.ts", 2.083, 90_000, 30_000),
              IFrame("segment_001.ts", 6.083, 564, 50_000)]
    text = iframe_playlist(frames, 7.5, "segment_000.ts", 564)
    pl = m3u8.loads(text)
    assert pl.is_i_frames_only and pl.is_endlist and pl.version == 5
    assert [(s.uri, s.byterange) for s in pl.segments] == [("segment_000.ts", "40000@564"),
                                                             ("segment_000.ts", "30000@90000"),
                                                             ("segment_001.ts", "50000@564")]
    assert [round(s.duration, 3) for s in pl.segments] == [2.0, 4.0, 1.417] and pl.target_duration == 4
    assert pl.segment_map[0].uri == "segment_000.ts" and pl.segment_map[0].byterange == "564@0"
    assert iframe_bandwidths(frames, 7.5) == (282_287, 129_432)  # peak: the last, 50 kB over 1.417 s
    with pytest.raises(ValueError):
        iframe_playlist([], 1.0, "s.ts", 1)


def test_webvtt_for_hls_maps_cue_time_zero_to_the_segments_timestamp():
    vtt = "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nhello\n"
    out = hls_webvtt(vtt, 7500)
    assert out.splitlines()[:3] == ["WEBVTT", "X-TIMESTAMP-MAP=MPEGTS:7500,LOCAL:00:00:00.000", ""]
    assert hls_webvtt(out, 9000).count("X-TIMESTAMP-MAP") == 1 and "hello" in out
    with pytest.raises(ValueError):
        hls_webvtt("1\n00:00:01,000 --> 00:00:02,000\nsrt\n", 0)


def test_bandwidths_peak_and_average():
    assert bandwidths([(10.0, 1_000_000), (10.0, 2_000_000), (5.0, 250_000)]) == (1_600_000, 1_040_000)
    assert bandwidths([]) == (0, 0)


def test_multivariant_playlist_parses_with_rfc_attributes():
    v360 = Variant("360p/segments/playlist.m3u8", 900_000, 800_000, 640, 360, "avc1.4d401f,mp4a.40.2", 29.97,
                   "360p/segments/iframes.m3u8", 120_000)
    v720 = Variant("720p/segments/playlist.m3u8", 2_500_000, 2_000_000, 1280, 720, "avc1.640028,mp4a.40.2", 29.97)
    text = multivariant_playlist([v720, v360], Subtitles("subtitles/playlist.m3u8", "en", "English"))
    pl = m3u8.loads(text)
    assert pl.is_variant and [p.uri for p in pl.playlists] == [v360.uri, v720.uri]
    si = pl.playlists[1].stream_info
    assert (si.bandwidth, si.average_bandwidth, si.resolution, si.codecs, si.frame_rate, si.subtitles) == \
        (2_500_000, 2_000_000, (1280, 720), "avc1.640028,mp4a.40.2", 29.97, "subs")
    [media] = pl.media
    assert (media.type, media.group_id, media.language, media.uri) == ("SUBTITLES", "subs", "en", "subtitles/playlist.m3u8")
    assert "SUBTITLES" not in multivariant_playlist([v360])
    [iframes] = pl.iframe_playlists  # RFC 8216 §4.3.4.3, video CODECS only
    assert (iframes.uri, iframes.iframe_stream_info.bandwidth, iframes.iframe_stream_info.codecs) == \
        ("360p/segments/iframes.m3u8", 120_000, "avc1.4d401f")
    sub = m3u8.loads(subtitles_playlist("../transcription/transcript.vtt", 6.166))
    assert sub.is_endlist and sub.segments[0].uri == "../transcription/transcript.vtt" and sub.target_duration == 7


def test_thumbnail_times_end_at_the_last_frame():
    assert thumbnail_times(10.0, 9.96) == {0: 0.0, 25: 2.49, 50: 4.98, 75: 7.47, 100: 9.96}
    flv = thumbnail_times(1.136, 1.034, first_frame=0.067)  # FLV starts at 0.067 s
    assert flv[0] == 0.067 and flv[100] == 1.034 and all(0.067 <= t <= 1.034 for t in flv.values())
    cmd = thumbnail_command("ffmpeg", "/s.mp4", probe(), 5.0, Path("/w/thumb_50.jpg"))
    assert opt(cmd, "-ss") == "5.000" and cmd.index("-ss") < cmd.index("-i")
    assert "scale=1280:720" in opt(cmd, "-filter_complex") and opt(cmd, "-q:v") == "2"
    assert opt(cmd, "-vframes") == "1" and "format=yuvj420p" in opt(cmd, "-filter_complex")
    assert "-noaccurate_seek" not in cmd  # an accurate seek: decodes from the keyframe before 5 s up to it
    # onto a keyframe's own time: a fast seek just past it, which lands on it (one frame decoded)
    key = thumbnail_command("ffmpeg", "/s.mp4", probe(), 4.171, Path("/w/thumb_50.jpg"), keyframe=True)
    assert opt(key, "-ss") == "4.171500" and key.index("-noaccurate_seek") < key.index("-i")
    last = thumbnail_command("ffmpeg", "/s.mp4", probe(), 9.96, Path("/w/thumb_100.jpg"), last=True)
    assert opt(last, "-ss") == "8.960" and "-vframes" not in last and opt(last, "-update") == "1"
    assert "-ss" not in thumbnail_command("ffmpeg", "/s.flv", probe(), 0.0, Path("/w/thumb_00.jpg"))
    # never seek at or before the first frame (FLV: first frame 0.067 s, last 1.034 s)
    assert "-ss" not in thumbnail_command("ffmpeg", "/s.flv", probe(), 0.067, Path("/w/t.jpg"), first_frame=0.067)
    assert "-ss" not in thumbnail_command("ffmpeg", "/s.flv", probe(), 1.034, Path("/w/t.jpg"), last=True,
                                          first_frame=0.067)


def test_thumbnail_plan_never_decodes_a_long_source_in_full():
    # 62 s film, keyframes every 12.5 s: the middle positions snap to their keyframes, the
    # first frame and the last are decoded from the keyframes just before them
    times = thumbnail_times(62.167, 59.958)
    keys = {0: 0.0, 25: 12.375, 50: 27.375, 75: 37.5, 100: 50.083}
    plan = thumbnail_plan(times, keys)
    assert plan.snapped == {25: 12.375, 50: 27.375, 75: 37.5} and plan.runs == [(None, [0]), (50.083, [100])]
    assert plan.at == {0: 0.0, 25: 12.375, 50: 27.375, 75: 37.5, 100: 59.958}
    # 2 s clip with one keyframe: one decode for all five, nothing snapped onto the first frame
    short = thumbnail_plan(thumbnail_times(2.0, 1.98), dict.fromkeys((0, 25, 50, 75, 100), 0.0))
    assert short.snapped == {} and short.runs == [(None, [0, 25, 50, 75, 100])]
    # a keyframe too far before its position (two would share a frame) is not snapped;
    # an unknown keyframe is left to an accurate seek
    far = thumbnail_plan(thumbnail_times(16.533, 16.5), {0: 0.0, 25: 0.0, 50: 8.0, 75: 8.0, 100: None})
    assert far.snapped == {50: 8.0} and far.runs == [(None, [0, 25]), (8.0, [75])] and 100 not in far.snapped
    cmd = frames_command("ffmpeg", "/s.mp4", probe(), {Path("/w/a.jpg"): 8.25, Path("/w/b.jpg"): 12.4}, 8.0)
    graph = opt(cmd, "-filter_complex")
    assert opt(cmd, "-ss") == "8.000000" and "-copyts" in cmd and cmd.count("-i") == 1
    assert "trim=start=8.249500" in graph and "trim=start=12.399500" in graph and graph.count("trim=end_frame=1") == 2
    assert cmd.count("-vframes") == 2


def test_metadata_document_lists_every_output():
    src = ObjectRef(bucket="videos", key="raw/a.mov", etag="e", size=1000)
    plan = [PlannedTask(name="video_360p", kind="transcode", rendition="360p"),
            PlannedTask(name="hls_360p", kind="package", rendition="360p"),
            PlannedTask(name="thumbnails", kind="thumbnails"), PlannedTask(name="metadata", kind="metadata")]
    ing = Ingested(job_id="J", at=AT, source=src, origin="inbox", probe=probe(), plan=plan, user_metadata={"k": 1})
    mp4 = OutputInfo(key="processed/J/360p/video_360p.mp4", size_bytes=100, kind="mp4", compression_ratio=10.0)
    done = {
        "video_360p": TaskCompleted(job_id="J", at=AT, task="video_360p", outputs=[mp4],
                                    result=VideoResult(rendition="360p", codecs="avc1.4d401f,mp4a.40.2",
                                                       frame_rate=25.0, profile="main", level="3.1", crf=23,
                                                       psnr_db=40.0, ssim=0.98),
                                    seconds=3.0),
        "hls_360p": TaskCompleted(job_id="J", at=AT, task="hls_360p", result=HlsResult(
            rendition="360p", playlist_key="processed/J/360p/segments/playlist.m3u8", segment_count=1,
            segment_durations=[2.0], bandwidth=5, average_bandwidth=4, resolution="640x360"), seconds=0.5),
        "thumbnails": TaskCompleted(job_id="J", at=AT, task="thumbnails", result=ThumbnailsResult(
            thumbnails=[Thumbnail(key="processed/J/thumbnails/thumb_50.jpg", position_percent=50,
                                  timestamp_seconds=1.0, width=640, height=360)],
            primary="processed/J/thumbnails/thumb_50.jpg")),
        "metadata": None,
    }
    doc = build_metadata(ing, done, "processed/J/master.m3u8", AT + timedelta(seconds=10))
    r = doc["outputs"]["360p"]  # PRD §2.6 names and nesting
    assert r["path"] == mp4.key and r["size_bytes"] == 100 and r["processing_time_seconds"] == 3.0
    assert r["segments"] == {"count": 1, "duration_seconds": 2, "total_size_bytes": None,
                             "playlist_path": "processed/J/360p/segments/playlist.m3u8", "durations_seconds": [2.0],
                             "bandwidth": 5, "average_bandwidth": 4}
    assert doc["quality_metrics"] == {"360p": {"vmaf": None, "psnr": 40.0, "ssim": 0.98}}
    assert doc["compression_ratio"] == {"360p": 10.0, "total_saved_percent": 90.0}
    assert doc["processing_time_seconds"] == 10.0 and doc["created_at"] == AT.isoformat()
    thumbs = doc["outputs"]["thumbnails"]
    assert thumbs["auto_generated"][0]["timestamp"] == "00:00:01" and thumbs["auto_generated"][0]["is_primary"]
    assert thumbs["custom"] is None and doc["user_metadata"] == {"k": 1}
    assert doc["outputs"]["audio"] is None and doc["outputs"]["transcription"] is None
    assert doc["source"]["filename"] == "a.mov" and doc["source"]["format"] == "mov"
