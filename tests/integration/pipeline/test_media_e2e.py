"""Media workers end to end on real clips: ladder MP4s, HLS, MP3, thumbnails, metadata.json."""

from __future__ import annotations

import json

import av
import httpx
import m3u8
import pytest

from media.run import ffmpeg_binary
from services.api.models import JobDocument
from tests.hls_rules import check_hls
from tests.integration.conftest import job_by_key
from tests.media import media

pytestmark = pytest.mark.integration


def get(stack, key: str) -> bytes:
    return stack.client().get_object(stack.settings.s3.bucket, key).read()


def decode_all(path_or_url: str) -> tuple[int, float | None]:
    """Decode every video (or audio) frame to the end: (frames, last frame end time)."""
    with av.open(path_or_url) as c:
        s = c.streams.video[0] if c.streams.video else c.streams.audio[0]
        n, end = 0, None
        for frame in c.decode(s):
            n += 1
            if frame.time is not None:
                end = float(frame.time) + (float(frame.duration * frame.time_base) if frame.duration else 0.0)
        return n, end


async def completed_job(stack, pool, src_name: str, as_name: str, timeout: float = 240):
    stack.drop(media(src_name), as_name)
    job = await job_by_key(pool, f"raw/{as_name}", ("completed", "failed"), timeout=timeout)
    assert job["status"] == "completed", (job["error_code"], job["error_message"])
    return job


async def test_1080p_clip_gives_ladder_hls_mp3_thumbnails_and_metadata(stack, pool, tmp_path):
    src = media("valid/h264_1920x1080_50fps_pcm.mov")
    job = await completed_job(stack, pool, "valid/h264_1920x1080_50fps_pcm.mov", "media-1080p.mov")
    jid = str(job["id"])
    base = f"processed/{jid}"
    with av.open(str(src)) as c:
        src_duration = c.duration / 1e6
    # MP4 renditions: heights, even widths, duration within 0.1 s, decodable to the end
    for r, height in (("360p", 360), ("720p", 720)):
        path = tmp_path / f"{r}.mp4"
        path.write_bytes(get(stack, f"{base}/{r}/video_{r}.mp4"))
        with av.open(str(path)) as c:
            v = c.streams.video[0]
            assert (v.codec_context.name, v.height, v.width % 2, v.codec_context.format.name) == \
                ("h264", height, 0, "yuv420p")
            assert abs(c.duration / 1e6 - src_duration) <= 0.1
            assert c.streams.audio[0].codec_context.name == "aac"
        frames, end = decode_all(str(path))
        assert frames >= 99 and end == pytest.approx(src_duration, abs=0.1)
    # HLS: media playlists parse, every segment decodes; multivariant lists both variants
    master = m3u8.loads(get(stack, f"{base}/master.m3u8").decode())
    assert master.is_variant and {p.uri for p in master.playlists} == {"360p/segments/playlist.m3u8",
                                                                         "720p/segments/playlist.m3u8"}
    for p in master.playlists:
        si = p.stream_info
        assert si.bandwidth >= si.average_bandwidth > 0 and si.frame_rate == 50.0
        assert si.codecs.startswith("avc1.") and si.codecs.endswith("mp4a.40.2")
        media_pl = m3u8.loads(get(stack, f"{base}/{p.uri}").decode())
        assert media_pl.is_endlist and media_pl.playlist_type == "vod" and media_pl.target_duration <= 4
        assert sum(s.duration for s in media_pl.segments) == pytest.approx(src_duration, abs=0.1)
        for seg in media_pl.segments:
            assert seg.uri.startswith("segment_") and seg.uri.endswith(".ts")
            seg_path = tmp_path / seg.uri
            seg_path.write_bytes(get(stack, f"{base}/{p.uri.rsplit('/', 1)[0]}/{seg.uri}"))
            assert decode_all(str(seg_path))[0] > 0
    assert check_hls(lambda key: get(stack, key), f"{base}/master.m3u8") == []  # Apple's authoring MUSTs
    # MP3 decodes with the source's duration
    mp3 = tmp_path / "audio.mp3"
    mp3.write_bytes(get(stack, f"{base}/audio/audio.mp3"))
    with av.open(str(mp3)) as c:
        a = c.streams.audio[0].codec_context
        assert (a.name, a.sample_rate) == ("mp3float", 48000) or (a.name, a.sample_rate) == ("mp3", 48000)
    assert decode_all(str(mp3))[1] == pytest.approx(src_duration, abs=0.1)
    # five thumbnails decode as JPEG, timestamps recorded, 100 % is inside the media
    for p in ("00", "25", "50", "75", "100"):
        jpg = tmp_path / f"thumb_{p}.jpg"
        jpg.write_bytes(get(stack, f"{base}/thumbnails/thumb_{p}.jpg"))
        with av.open(str(jpg)) as c:
            assert c.streams.video[0].codec_context.name == "mjpeg" and decode_all(str(jpg))[0] == 1
    # metadata.json matches what is in the bucket
    meta = json.loads(get(stack, f"{base}/metadata.json"))
    assert meta["job_id"] == jid and meta["master_playlist"] == f"{base}/master.m3u8"
    client = stack.client()
    outputs = meta["outputs"]  # PRD §2.6
    for r in ("360p", "720p"):
        e = outputs[r]
        st = client.stat_object(stack.settings.s3.bucket, e["path"])
        assert st.size == e["size_bytes"] and meta["compression_ratio"][r] > 1
        segments = m3u8.loads(get(stack, e["segments"]["playlist_path"]).decode()).segments
        assert e["segments"]["count"] == len(segments)
        listed = sum(client.stat_object(stack.settings.s3.bucket, f"{base}/{r}/segments/{s.uri}").size for s in segments)
        playlist = client.stat_object(stack.settings.s3.bucket, e["segments"]["playlist_path"]).size
        assert e["segments"]["total_size_bytes"] == listed + playlist
        quality = meta["quality_metrics"][r]  # VMAF by default; PSNR/SSIM only with TFLOW_QUALITY_PSNR_SSIM
        assert quality["vmaf"] > 80 and quality["psnr"] is None and quality["ssim"] is None
        assert outputs[r]["encoding_profile"] == "veryfast" and outputs[r]["preset"]
    sizes = sum(outputs[r]["size_bytes"] for r in ("360p", "720p"))
    assert meta["compression_ratio"]["total_saved_percent"] == round((1 - sizes / meta["source"]["size_bytes"]) * 100, 1)
    assert meta["source"]["format"] == "mov" and meta["source"]["filename"].endswith(".mov")  # not the demuxer name
    audio = outputs["audio"]
    assert client.stat_object(stack.settings.s3.bucket, audio["path"]).size == audio["size_bytes"]
    assert audio["sample_rate"] == 48000
    auto = outputs["thumbnails"]["auto_generated"]
    times = [t["timestamp_seconds"] for t in auto]
    assert times == sorted(times) and times[0] == 0.0 and times[-1] < src_duration
    assert [t["position_percent"] for t in auto] == [0, 25, 50, 75, 100] and auto[0]["timestamp"] == "00:00:00"
    assert all(client.stat_object(stack.settings.s3.bucket, t["path"]).size == t["size_bytes"] for t in auto)
    assert set(meta["processing_seconds"]) >= {"video_360p", "video_720p", "hls_360p", "hls_720p", "audio_mp3"}
    # the API's completed shape: every output with its object path and a URL that serves it
    doc = stack.api().get(f"/api/v1/jobs/{jid}").json()
    assert doc["status"] == "completed" and doc["progress_percent"] == 100.0
    JobDocument.model_validate(doc)  # PRD §4 completed shape, exactly as its model says
    out = doc["outputs"]
    assert out["master_playlist"]["key"] == f"{base}/master.m3u8"
    assert len(out["thumbnails"]["auto_generated"]) == 5 and out["thumbnails"]["custom"] is None
    for r in ("360p", "720p"):
        assert out[r]["video"]["minio_path"] == f"{stack.settings.s3.bucket}/{base}/{r}/video_{r}.mp4"
        assert out[r]["streaming"]["segment_count"] == outputs[r]["segments"]["count"]
        assert doc["compression"][f"{r}_ratio"] == meta["compression_ratio"][r]
    assert doc["processing_time_seconds"] > 0 and doc["video_info"]["format"] == "mov"
    assert [t["name"] for t in doc["tasks"]][0] == "validate_video"
    assert all(t["status"] == "completed" for t in doc["tasks"])
    for url in (out["master_playlist"]["url"], out["720p"]["streaming"]["hls_url"], out["audio"]["url"],
                out["metadata_json"]["url"], out["360p"]["video"]["url"]):
        assert httpx.get(url, timeout=10).status_code == 200
    assert httpx.head(out["master_playlist"]["url"]).headers["content-type"] == "application/vnd.apple.mpegurl"
    # short-lived presigned downloads of named outputs
    api = stack.api()
    for output, suffix in (("720p", "/720p/video_720p.mp4"), ("master", "/master.m3u8"), ("mp3", "/audio.mp3"),
                           ("audio", "/audio.mp3"), ("thumbnail", "/thumb_50.jpg"),
                           ("thumb_100", "/thumb_100.jpg"), ("hls_360p", "/playlist.m3u8"),
                           ("metadata", "/metadata.json")):
        for prefix in ("/api/v1/jobs", "/api/jobs"):  # canonical and user guide
            d = api.get(f"{prefix}/{jid}/download/{output}").json()
            assert d["key"].endswith(suffix) and d["expires_in_seconds"] == 900 and d["expires_at"]
            assert httpx.get(d["download_url"], timeout=10).content == get(stack, d["key"])
    assert api.get(f"/api/v1/jobs/{jid}/download/1080p").status_code == 404
    # no temp directory of the job is left behind
    assert not [p for p in stack.work_dir.glob(f"*{jid}*")]


async def test_sub_720p_source_gives_360p_only(stack, pool):
    job = await completed_job(stack, pool, "valid/friday_640x480_speech_h264_aac.mp4", "media-friday.mp4")
    tasks = {r["name"] for r in await pool.fetch("SELECT name FROM tasks WHERE job_id = $1", job["id"])}
    assert "video_720p" not in tasks and "video_360p" in tasks
    master = m3u8.loads(get(stack, f"processed/{job['id']}/master.m3u8").decode())
    assert [p.stream_info.resolution for p in master.playlists] == [(480, 360)]


async def test_source_without_audio_completes_without_mp3_or_transcription(stack, pool):
    job = await completed_job(stack, pool, "valid/msmpeg4v2_640x360_noaudio.avi", "media-noaudio.avi")
    tasks = {r["name"] for r in await pool.fetch("SELECT name FROM tasks WHERE job_id = $1", job["id"])}
    assert not tasks & {"audio_mp3", "transcription"}
    from runtime.storage import store
    assert store.stat(stack.client(), stack.settings.s3.bucket, f"processed/{job['id']}/audio/audio.mp3") is None
    master = m3u8.loads(get(stack, f"processed/{job['id']}/master.m3u8").decode())
    assert master.playlists[0].stream_info.codecs == "avc1.4d401f"


async def test_rotated_phone_and_hdr_sources_come_out_upright_8bit(stack, pool, tmp_path):
    phone = await completed_job(stack, pool, "valid/phone_1280x720_rot180_vfr.mp4", "media-phone.mp4")
    hdr = await completed_job(stack, pool, "valid/hevc_main10_hdr10_1920x1080.mp4", "media-hdr.mp4")
    for job in (phone, hdr):
        path = tmp_path / f"{job['id']}.mp4"
        path.write_bytes(get(stack, f"processed/{job['id']}/720p/video_720p.mp4"))
        with av.open(str(path)) as c:
            v = c.streams.video[0]
            assert (v.width, v.height, v.codec_context.format.name) == (1280, 720, "yuv420p")
            frame = next(c.decode(v))
            assert not frame.rotation  # upright pixels, no display matrix left to apply
        task = await pool.fetchrow("SELECT details FROM tasks WHERE job_id = $1 AND name = 'video_720p'", job["id"])
        # VMAF against the upright (and for HDR tone-mapped) source: a flipped frame would score near 0
        assert task["details"]["vmaf"] > 60


async def test_custom_thumbnail_is_stored_as_primary_and_an_invalid_one_fails_only_its_task(stack, pool, tmp_path):
    import subprocess

    png = stack.inbox / "media-custom.flv.thumb.png"
    out = tmp_path / "custom.png"
    subprocess.run([ffmpeg_binary(stack.settings.media.ffmpeg), "-v", "error", "-y", "-i",
                    str(media("valid/bbb_1280x720_30s_vp8_vorbis.webm")), "-frames:v", "1", str(out)], check=True)
    png.write_bytes(out.read_bytes())
    (stack.inbox / "media-badthumb.flv.thumb.jpg").write_text("this is not a JPEG\n" * 20)
    good = await completed_job(stack, pool, "valid/h264_1080x720_aac.flv", "media-custom.flv")
    bad = await completed_job(stack, pool, "valid/h264_1080x720_aac.flv", "media-badthumb.flv")
    key = f"processed/{good['id']}/thumbnails/thumb_custom.jpg"
    jpg = tmp_path / "thumb_custom.jpg"
    jpg.write_bytes(get(stack, key))
    with av.open(str(jpg)) as c:
        assert c.streams.video[0].codec_context.name == "mjpeg" and c.streams.video[0].width == 1280
    doc = stack.api().get(f"/api/v1/jobs/{good['id']}").json()
    thumbs = doc["outputs"]["thumbnails"]
    assert thumbs["primary"]["key"] == key and thumbs["custom"]["key"] == key
    assert thumbs["custom"]["source"] == "user_uploaded" and thumbs["custom"]["is_primary"]
    assert not any(t["is_primary"] for t in thumbs["auto_generated"])
    meta = json.loads(get(stack, f"processed/{good['id']}/metadata.json"))["outputs"]["thumbnails"]
    assert meta["primary"] == {"path": key} and meta["custom"]["is_primary"] and meta["custom"]["path"] == key
    task = await pool.fetchrow("SELECT * FROM tasks WHERE job_id = $1 AND name = 'thumbnail_custom'", bad["id"])
    assert (task["status"], task["error_code"]) == ("failed", "InvalidThumbnail")
    assert "not a JPG, PNG or WebP image" in task["error_message"]
    assert (stack.inbox / "done" / "media-badthumb.flv.thumb.jpg").exists()
