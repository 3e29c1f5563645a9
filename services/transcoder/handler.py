"""transcoder: on `ingested`, encode the job's pending renditions (`video_<r>`) and the
MP3 in one ffmpeg run reading the source in place; upload each output and complete its
task (ladder order, so 360p can be packaged first), with PSNR/SSIM per rendition."""

from __future__ import annotations

import time
from pathlib import Path

from contracts import AnyJobEvent, Mp3Result, VideoResult, layout
from media.encode import parse_quality, quality_command, transcode_command
from media.ladder import LADDER
from media.probe import describe_output
from media.run import run_ffmpeg, run_quiet
from tflow.worker import JobHandler, TaskReporter, Work

SERVICE = "transcoder"
KINDS = ("transcode", "audio")


class Transcoder(JobHandler):
    """The ladder MP4s and the MP3 of an ingested job."""

    service = SERVICE

    async def work_for(self, event: AnyJobEvent) -> Work | None:
        return await self.source_work(event, KINDS)

    async def run(self, work: Work, rep: TaskReporter) -> None:
        ingested, settings = work.ingested, self.settings
        renditions = [LADDER[t.rendition] for t in work.tasks if t.kind == "transcode" and t.rendition in LADDER]
        want_mp3 = any(t.kind == "audio" for t in work.tasks) and ingested.probe.audio is not None
        url = self.objects.url(ingested.source.bucket, ingested.source.key)
        with self.workdir(ingested.job_id) as scratch:
            outputs = {r.name: scratch / Path(layout.rendition_key(ingested.job_id, r.name)).name for r in renditions}
            mp3 = scratch / "audio.mp3" if want_mp3 else None
            started = time.monotonic()
            limits = self.limits(work)
            await run_ffmpeg(transcode_command(self.ffmpeg, url, ingested.probe, renditions, outputs, mp3),
                             rep.progress, settings.progress_interval_seconds, **limits)
            encode_seconds = time.monotonic() - started
            duration = ingested.probe.duration_seconds
            measure = settings.quality_metrics and duration < settings.quality_max_duration_seconds
            for r in renditions:
                key = layout.rendition_key(ingested.job_id, r.name)
                info = describe_output(outputs[r.name], key, "mp4", ingested.source.size, encode_seconds)
                quality = {}
                if measure and info.width and info.height:
                    quality = parse_quality(await run_quiet(quality_command(
                        self.ffmpeg, outputs[r.name], url, ingested.probe, info.width, info.height),
                        limits["time_limit"]))
                codecs = r.codecs if ingested.probe.audio is not None else r.codecs_video
                result = VideoResult(rendition=r.name, codecs=codecs, frame_rate=ingested.probe.video.fps,
                                     profile=r.profile, level=r.level, crf=r.crf, **quality)
                await self.objects.upload(key, outputs[r.name])
                await rep.complete(layout.video_task(r.name), [info], result, time.monotonic() - started)
            if mp3 is not None:
                key = layout.mp3_key(ingested.job_id)
                info = describe_output(mp3, key, "mp3", ingested.source.size, encode_seconds)
                await self.objects.upload(key, mp3)
                await rep.complete(layout.MP3_TASK, [info], Mp3Result(), encode_seconds)
