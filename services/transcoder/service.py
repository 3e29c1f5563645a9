"""transcoder: on `ingested`, encode the job's `video_<r>` renditions and `audio_mp3` in
one ffmpeg run reading the source over a presigned URL; upload each output and publish
its completion (ladder order, so 360p can be packaged first)."""

from __future__ import annotations

import asyncio
import logging
import time

from nats.aio.msg import Msg

from contracts import Ingested, TaskCompleted, decode_job_event, utcnow
from services.transcoder.commands import parse_quality, quality_command, transcode_command
from tflow import store
from tflow.ffmpeg import run_ffmpeg, run_quiet
from tflow.ladder import LADDER, rendition_key
from tflow.media import describe_output
from tflow.natsio import decode_or_permanent, publish_event
from tflow.worker import JobHandler, TaskReporter, job_id_of, job_workdir, pending_tasks

log = logging.getLogger(__name__)
SERVICE = "transcoder"
KINDS = ("transcode", "audio")


def mp3_key(job_id: str) -> str:
    """`processed/<job>/audio/audio.mp3` (DESIGN.md)."""
    return f"processed/{job_id}/audio/audio.mp3"


class Transcoder(JobHandler):
    """The transcoder's handler."""

    service = SERVICE

    async def handle(self, msg: Msg) -> None:
        """One `ingested` fact: encode what is still pending."""
        ev = decode_or_permanent(decode_job_event, msg.data)
        if not isinstance(ev, Ingested):
            return
        todo = await pending_tasks(self.js, ev.job_id, [t for t in ev.plan if t.kind in KINDS])
        if not todo:
            return
        rep = TaskReporter(self.js, SERVICE, ev.job_id, [t.name for t in todo], msg.metadata.num_delivered,
                           ev.probe.duration_seconds)
        await self.reported(rep, self._encode(ev, todo, rep))

    async def on_failure(self, msg: Msg, error: BaseException) -> None:
        """Last delivery failed: the pending tasks fail permanently (the job fails)."""
        try:
            ev = decode_job_event(msg.data)
        except Exception:
            log.error("undecodable message on %s: %s", msg.subject, error)
            return
        todo = await pending_tasks(self.js, job_id_of(msg), [t for t in getattr(ev, "plan", []) if t.kind in KINDS])
        await self.fail_final(msg, [t.name for t in todo], error)

    async def _encode(self, ev: Ingested, todo, rep: TaskReporter) -> None:
        renditions = [LADDER[t.rendition] for t in todo if t.kind == "transcode" and t.rendition in LADDER]
        want_mp3 = any(t.kind == "audio" for t in todo) and ev.probe.audio is not None
        url = store.presigned_url(self.client, ev.source)
        with job_workdir(self.s, ev.job_id, SERVICE) as wd:
            outputs = {r.name: wd / f"video_{r.name}.mp4" for r in renditions}
            mp3 = wd / "audio.mp3" if want_mp3 else None
            cmd = transcode_command(self.s.ffmpeg_binary(), url, ev.probe, renditions, outputs, mp3)
            started = time.monotonic()
            await run_ffmpeg(cmd, rep.progress, self.s.progress_interval_seconds)
            encode_seconds = time.monotonic() - started
            measure = self.s.quality_metrics and ev.probe.duration_seconds < self.s.quality_max_duration_seconds
            for r in renditions:
                key = rendition_key(ev.job_id, r.name)
                info = describe_output(outputs[r.name], key, "mp4", ev.source.size, encode_seconds)
                codecs = r.codecs if ev.probe.audio is not None else r.codecs_video
                details: dict = {"rendition": r.name, "codecs": codecs, "frame_rate": ev.probe.video.fps,
                                 "profile": r.profile, "level": r.level, "crf": r.crf}
                if measure and info.width and info.height:
                    stderr = await run_quiet(quality_command(self.s.ffmpeg_binary(), outputs[r.name], url, ev.probe,
                                                             info.width, info.height))
                    details.update(parse_quality(stderr))
                await asyncio.to_thread(store.upload_file, self.client, self.s.bucket, key, outputs[r.name])
                await publish_event(self.js, TaskCompleted(job_id=ev.job_id, at=utcnow(), task=f"video_{r.name}",
                                                           outputs=[info], details=details,
                                                           seconds=round(time.monotonic() - started, 3)), SERVICE)
            if mp3 is not None:
                key = mp3_key(ev.job_id)
                info = describe_output(mp3, key, "mp3", ev.source.size, encode_seconds)
                await asyncio.to_thread(store.upload_file, self.client, self.s.bucket, key, mp3)
                await publish_event(self.js, TaskCompleted(job_id=ev.job_id, at=utcnow(), task="audio_mp3",
                                                           outputs=[info], seconds=round(encode_seconds, 3)), SERVICE)
