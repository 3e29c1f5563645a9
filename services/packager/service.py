"""packager handlers.

- `Packager` (durable `packager`): on `task_completed.video_<r>`, remux the MP4 to HLS
  (`<r>/segments/playlist.m3u8` + `segment_NNN.ts`), upload segments then the
  playlist, publish `hls_<r>` completed with the variant's attributes.
- `Finalizer` (durable `finalizer`, one message at a time across replicas so writes
  of one job's master never race): on any task completion, rewrite `master.m3u8` from
  the variants ready so far (plus subtitles once the transcript exists); once every
  other task of the plan is done, write `metadata.json` and complete `metadata`.
"""

from __future__ import annotations

import asyncio
import logging
import time

import m3u8
from nats.aio.msg import Msg

from contracts import Ingested, OutputInfo, TaskCompleted, TaskFailed, decode_job_event, utcnow
from services.packager.metadata import build_metadata
from services.packager.playlists import (
    Subtitles,
    Variant,
    bandwidths,
    hls_command,
    multivariant_playlist,
    subtitles_playlist,
)
from tflow import store
from tflow.ffmpeg import run_ffmpeg
from tflow.ladder import processed_prefix
from tflow.natsio import decode_or_permanent, last_event, publish_event
from tflow.worker import JobHandler, TaskReporter, completed, job_ingested, job_workdir

log = logging.getLogger(__name__)
SERVICE = "packager"
LANGUAGE_NAMES = {"en": "English", "fr": "Français", "de": "Deutsch", "es": "Español", "it": "Italiano",
                  "pt": "Português", "nl": "Nederlands", "ja": "日本語", "zh": "中文", "ru": "Русский"}


def master_key(job_id: str) -> str:
    """`processed/<job>/master.m3u8`."""
    return f"{processed_prefix(job_id)}master.m3u8"


class Packager(JobHandler):
    """HLS per rendition."""

    service = SERVICE

    async def handle(self, msg: Msg) -> None:
        ev = decode_or_permanent(decode_job_event, msg.data)
        if not isinstance(ev, TaskCompleted) or not ev.task.startswith("video_") or not ev.outputs:
            return
        rendition = ev.task.removeprefix("video_")
        task = f"hls_{rendition}"
        ing = await job_ingested(self.js, ev.job_id)
        if task not in {t.name for t in ing.plan} or await completed(self.js, ev.job_id, task):
            return
        rep = TaskReporter(self.js, SERVICE, ev.job_id, [task], msg.metadata.num_delivered,
                           ev.outputs[0].duration_seconds or ing.probe.duration_seconds)
        await self.reported(rep, self._package(ev, rendition, task, rep))

    async def on_failure(self, msg: Msg, error: BaseException) -> None:
        ev = decode_job_event(msg.data)
        if isinstance(ev, TaskCompleted) and ev.task.startswith("video_"):
            await self.fail_final(msg, [f"hls_{ev.task.removeprefix('video_')}"], error)

    async def _package(self, ev: TaskCompleted, rendition: str, task: str, rep: TaskReporter) -> None:
        video = ev.outputs[0]
        prefix = f"{processed_prefix(ev.job_id)}{rendition}/segments/"
        url = store.presigned_key_url(self.client, self.s.bucket, video.key)
        started = time.monotonic()
        with job_workdir(self.s, ev.job_id, SERVICE) as wd:
            playlist = wd / "playlist.m3u8"
            await run_ffmpeg(hls_command(self.s.ffmpeg_binary(), url, playlist), rep.progress,
                             self.s.progress_interval_seconds)
            parsed = m3u8.load(str(playlist))
            segments = [(seg.duration, (wd / seg.uri).stat().st_size) for seg in parsed.segments]
            for seg in parsed.segments:  # segments first: the playlist never names a missing one
                await asyncio.to_thread(store.upload_file, self.client, self.s.bucket, prefix + seg.uri, wd / seg.uri)
            await asyncio.to_thread(store.upload_file, self.client, self.s.bucket, prefix + "playlist.m3u8", playlist)
            peak, average = bandwidths(segments)
            total = round(sum(d for d, _ in segments), 3)
            info = OutputInfo(key=prefix + "playlist.m3u8", size_bytes=playlist.stat().st_size, kind="hls",
                              width=video.width, height=video.height, bitrate=average, duration_seconds=total)
        details = {"rendition": rendition, "playlist_key": info.key, "segment_count": len(segments),
                   "segment_durations": [round(d, 3) for d, _ in segments], "bandwidth": peak,
                   "average_bandwidth": average, "resolution": f"{video.width}x{video.height}",
                   "codecs": ev.details.get("codecs"), "frame_rate": ev.details.get("frame_rate")}
        await publish_event(self.js, TaskCompleted(job_id=ev.job_id, at=utcnow(), task=task, outputs=[info],
                                                   details=details, seconds=round(time.monotonic() - started, 3)),
                            SERVICE)


class Finalizer(JobHandler):
    """Multivariant playlist and metadata.json."""

    service = SERVICE

    async def handle(self, msg: Msg) -> None:
        ev = decode_or_permanent(decode_job_event, msg.data)
        if not isinstance(ev, (TaskCompleted, TaskFailed)) or ev.task == "metadata":
            return
        if isinstance(ev, TaskFailed) and not ev.permanent:
            return
        ing = await job_ingested(self.js, ev.job_id)
        done = {t.name: await completed(self.js, ev.job_id, t.name) for t in ing.plan}
        if isinstance(ev, TaskCompleted) and (ev.task.startswith("hls_") or ev.task == "transcription"):
            await asyncio.to_thread(self._write_master, ing, done)
        if "metadata" not in done or done["metadata"] is not None:
            return
        for t in ing.plan:
            if t.name == "metadata" or done[t.name] is not None:
                continue
            if not (t.optional and await self._failed_permanently(ev.job_id, t.name)):
                return  # still waiting for t
        await self._finish(ing, done)

    async def on_failure(self, msg: Msg, error: BaseException) -> None:
        await self.fail_final(msg, ["metadata"], error)

    async def _failed_permanently(self, job_id: str, task: str) -> bool:
        """Whether the task's last failure fact is permanent."""
        data = await last_event(self.js, f"jobs.{job_id}.task_failed.{task}")
        return data is not None and getattr(decode_job_event(data), "permanent", False)

    def _write_master(self, ing: Ingested, done: dict[str, TaskCompleted | None]) -> None:
        variants = []
        for name, fact in done.items():
            if not name.startswith("hls_") or fact is None:
                continue
            d, r = fact.details, name.removeprefix("hls_")
            w, h = (int(x) for x in d["resolution"].split("x"))
            variants.append(Variant(uri=f"{r}/segments/playlist.m3u8", bandwidth=d["bandwidth"],
                                    average_bandwidth=d["average_bandwidth"], width=w, height=h, codecs=d["codecs"],
                                    frame_rate=d["frame_rate"] or 0.0))
        if not variants:
            return
        subs = None
        transcript = done.get("transcription")
        vtt = next((o for o in (transcript.outputs if transcript else []) if o.key.endswith(".vtt")), None)
        if transcript is not None and vtt is not None:
            lang = transcript.details.get("language") or "und"
            prefix = processed_prefix(ing.job_id)
            store.put_bytes(self.client, self.s.bucket, f"{prefix}subtitles/playlist.m3u8",
                            subtitles_playlist("../" + vtt.key.removeprefix(prefix),
                                               ing.probe.duration_seconds).encode())
            subs = Subtitles(uri="subtitles/playlist.m3u8", language=lang, name=LANGUAGE_NAMES.get(lang, lang))
        store.put_bytes(self.client, self.s.bucket, master_key(ing.job_id),
                        multivariant_playlist(variants, subs).encode())

    async def _finish(self, ing: Ingested, done: dict[str, TaskCompleted | None]) -> None:
        started = time.monotonic()
        key = f"{processed_prefix(ing.job_id)}metadata.json"
        has_master = any(n.startswith("hls_") and f is not None for n, f in done.items())
        doc = build_metadata(ing, done, master_key(ing.job_id) if has_master else None, utcnow().isoformat())
        await asyncio.to_thread(store.put_json, self.client, self.s.bucket, key, doc, 2)
        size = (await asyncio.to_thread(store.stat, self.client, self.s.bucket, key)).size
        await publish_event(self.js, TaskCompleted(
            job_id=ing.job_id, at=utcnow(), task="metadata",
            outputs=[OutputInfo(key=key, size_bytes=size, kind="json")],
            details={"master_playlist": doc["master_playlist"]}, seconds=round(time.monotonic() - started, 3)),
            SERVICE)
