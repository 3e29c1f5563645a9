"""transcoder: on `ingested` (or a replay), encode the job's pending renditions and the MP3
in one ffmpeg run reading the source in place, which also measures each rendition's
VMAF from its own encoded frames against the decoded source (no second decode). Each rendition is written at once as its
MP4 and as HLS (`tee`): segments are uploaded as they close and the `EVENT` media
playlists grow while the encode runs (the finalizer, the master's one writer, lists a
variant once its playlist names a segment, on the `hls_<r>` progress facts). When the
encode ends: `hls_<r>` completes (VOD playlist, I-frame playlist), then `video_<r>` (the
MP4, with its quality figures), ladder order, then the MP3.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import time
from pathlib import Path

from contracts import AnyJobEvent, Mp3Result, VideoResult, layout
from media.encode import read_quality, transcode_command
from media.ladder import encoding_ladder, output_size
from media.probe import describe_output
from media.run import ffmpeg_binary, run_ffmpeg
from runtime.worker.handler import JobHandler, TaskReporter, Work
from services.transcoder import NAME
from services.transcoder.progressive import POLL_SECONDS, RenditionSegments

SERVICE = NAME
log = logging.getLogger(__name__)
KINDS = ("transcode", "package", "audio")
#: Seconds a failed segment write waits for ffmpeg to exit with the reason.
WRITE_ERROR_SECONDS = 10.0


class Transcoder(JobHandler):
    """The ladder MP4s, their HLS and the MP3 of an ingested job."""

    service = SERVICE

    @property
    def ffmpeg(self) -> str:
        """The ffmpeg binary (`TFLOW_FFMPEG`, else imageio-ffmpeg's)."""
        return ffmpeg_binary(self.settings.media.ffmpeg)

    async def work_for(self, event: AnyJobEvent) -> Work | None:
        return await self.source_work(event, KINDS)

    async def run(self, work: Work, rep: TaskReporter) -> None:
        ingested, settings = work.ingested, self.settings
        ladder = encoding_ladder(settings.media.encoding_profile)
        names = sorted({t.rendition for t in work.tasks if t.kind in ("transcode", "package")
                        and t.rendition in ladder}, key=lambda n: ladder[n].height)
        renditions = [ladder[n] for n in names]
        want_mp3 = any(t.kind == "audio" for t in work.tasks) and ingested.probe.audio is not None
        url = self.objects.url(ingested.source.bucket, ingested.source.key)
        video = ingested.probe.video
        with self.workdir(ingested.job_id) as scratch:
            outputs = {r.name: scratch / Path(layout.rendition_key(ingested.job_id, r.name)).name for r in renditions}
            hls = {}
            for r in renditions:
                (scratch / r.name).mkdir()
                w, h = output_size(video.display_width, video.display_height, r.height)
                hls[r.name] = RenditionSegments(
                    job_id=ingested.job_id, rendition=r, playlist=scratch / r.name / "playlist.m3u8", width=w,
                    height=h, codecs=r.codecs if ingested.probe.audio is not None else r.codecs_video,
                    frame_rate=video.fps)
            mp3 = scratch / "audio.mp3" if want_mp3 else None
            duration = ingested.probe.duration_seconds
            measure = settings.media.quality_metrics and duration < settings.media.quality_max_duration_seconds
            logs = {r.name: scratch / f"vmaf_{r.name}.json" for r in renditions
                    if measure and work.has(layout.video_task(r.name))}
            started = time.monotonic()
            limits = self.limits(work)
            cmd = transcode_command(self.ffmpeg, url, ingested.probe, renditions, outputs, mp3,
                                    {n: s.playlist for n, s in hls.items()}, quality=logs,
                                    vmaf_subsample=settings.media.quality_subsample,
                                    psnr_ssim=settings.media.quality_psnr_ssim)
            await self._encode(cmd, rep, limits, list(hls.values()))
            encode_seconds = time.monotonic() - started
            for r in renditions:
                playlist, playlist_result = await hls[r.name].finish(self.objects, started)
                if work.has(layout.hls_task(r.name)):
                    await rep.complete(layout.hls_task(r.name), [playlist], playlist_result, time.monotonic() - started)
            for r in renditions:
                if not work.has(layout.video_task(r.name)):
                    continue
                key = layout.rendition_key(ingested.job_id, r.name)
                info = describe_output(outputs[r.name], key, "mp4", ingested.source.size, encode_seconds)
                quality = read_quality(logs[r.name]) if r.name in logs else {}
                result = VideoResult(rendition=r.name, codecs=hls[r.name].codecs, frame_rate=video.fps,
                                     profile=r.profile, level=r.level, crf=r.crf, preset=r.preset,
                                     encoding_profile=settings.media.encoding_profile, **quality)
                await self.objects.upload(key, outputs[r.name])
                await rep.complete(layout.video_task(r.name), [info], result, time.monotonic() - started)
            if mp3 is not None:
                key = layout.mp3_key(ingested.job_id)
                info = describe_output(mp3, key, "mp3", ingested.source.size, encode_seconds)
                await self.objects.upload(key, mp3)
                await rep.complete(layout.MP3_TASK, [info], Mp3Result(), encode_seconds)

    async def discard(self, work: Work, rep: TaskReporter) -> None:
        """Remove the segments and playlists the failed attempt stored for the renditions
        whose `hls_<r>` it did not complete (the finalizer then drops them from the
        growing master), so nothing a retry will redo stays visible."""
        for t in work.tasks:
            if t.kind == "package" and t.rendition and t.name in rep.open_tasks:
                removed = await self.objects.remove_prefix(layout.segments_prefix(work.job_id, t.rendition))
                if removed:
                    log.info("transcoder: removed the %d HLS objects of %s's %s from the failed attempt",
                             removed, work.job_id, t.rendition)

    async def _encode(self, cmd: list[str], rep: TaskReporter, limits: dict[str, float],
                      segments: list[RenditionSegments]) -> None:
        """Run the encode; every `POLL_SECONDS` meanwhile, store the segments closed so far
        and their growing playlists. A failed upload stops the encode. A segment that is
        named but missing or empty (a write ffmpeg failed) waits up to `WRITE_ERROR_SECONDS`
        for ffmpeg's own exit, whose error says why (a full disk is `disk_full`, retried)."""
        encode = asyncio.ensure_future(run_ffmpeg(cmd, rep.progress, self.settings.media.progress_interval_seconds,
                                                  **limits))
        try:
            while not encode.done():
                await asyncio.wait({encode}, timeout=POLL_SECONDS)
                try:
                    for s in segments:
                        await s.sync(self.objects)
                except OSError as e:
                    if e.errno != errno.EIO:
                        raise
                    await asyncio.wait({encode}, timeout=WRITE_ERROR_SECONDS)
                    if encode.done():
                        encode.result()  # ffmpeg's error, the cause; a clean exit re-raises the EIO
                    raise
            await encode
        finally:
            if not encode.done():
                encode.cancel()
                with contextlib.suppress(BaseException):
                    await encode
