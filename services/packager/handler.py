"""packager handlers.

- `Packager` (durable `packager`): when a rendition MP4 completes, remux it to HLS
  (`<r>/segments/playlist.m3u8` + `segment_NNN.ts`), upload segments then the
  playlist, and complete `hls_<r>` with the variant's attributes.
- `Finalizer` (durable `finalizer`, one message at a time across replicas so writes
  of one job's master never race): on any task completion, rewrite `master.m3u8` from
  the variants ready so far (plus subtitles once the transcript exists); once every
  other task of the plan is done, write `metadata.json` and complete `metadata`.
"""

from __future__ import annotations

import json
import time

import m3u8

from contracts import (
    AnyJobEvent,
    HlsResult,
    Ingested,
    MetadataResult,
    OutputInfo,
    Replayed,
    TaskCompleted,
    TaskFailed,
    TranscriptResult,
    VideoResult,
    layout,
    utcnow,
)
from media.hls import Subtitles, Variant, bandwidths, hls_command, multivariant_playlist, subtitles_playlist
from media.run import run_ffmpeg
from services.packager.metadata import build_metadata
from tflow.facts import completed, failed_permanently, ingested
from tflow.store import FINAL_PLAYLIST_CACHE
from tflow.worker import Delivery, JobHandler, TaskReporter, Work

SERVICE = "packager"
LANGUAGE_NAMES = {"en": "English", "fr": "Français", "de": "Deutsch", "es": "Español", "it": "Italiano",
                  "pt": "Português", "nl": "Nederlands", "ja": "日本語", "zh": "中文", "ru": "Русский"}


class Packager(JobHandler):
    """HLS per rendition."""

    service = SERVICE

    async def work_for(self, event: AnyJobEvent) -> Work | None:
        """A rendition's MP4 completed in its current epoch (a completion a replay has
        superseded is not packaged: the replay's own completion will be)."""
        if not (isinstance(event, TaskCompleted) and isinstance(event.result, VideoResult) and event.outputs):
            return None
        current = await completed(self.facts, event.job_id, event.task)
        if current is None or current.epoch != event.epoch:
            return None
        ing = await ingested(self.facts, event.job_id)
        task = layout.hls_task(event.result.rendition)
        return Work(ingested=ing, trigger=event, tasks=[t for t in ing.plan if t.name == task],
                    duration=event.outputs[0].duration_seconds or ing.probe.duration_seconds)

    async def run(self, work: Work, rep: TaskReporter) -> None:
        video_done = work.trigger
        assert isinstance(video_done, TaskCompleted) and isinstance(video_done.result, VideoResult)
        video, rendition = video_done.outputs[0], video_done.result.rendition
        prefix = layout.segments_prefix(work.job_id, rendition)
        url = self.objects.url(self.settings.bucket, video.key)
        started = time.monotonic()
        with self.workdir(work.job_id) as scratch:
            playlist = scratch / "playlist.m3u8"
            await run_ffmpeg(hls_command(self.ffmpeg, url, playlist), rep.progress,
                             self.settings.progress_interval_seconds, **self.limits(work))
            parsed = m3u8.load(str(playlist))
            segments = [(seg.duration, (scratch / seg.uri).stat().st_size) for seg in parsed.segments]
            for seg in parsed.segments:  # segments first: the playlist never names a missing one
                await self.objects.upload(prefix + seg.uri, scratch / seg.uri)
            peak, average = bandwidths(segments)
            key = layout.media_playlist_key(work.job_id, rendition)
            info = await self.upload(key, playlist, "hls", width=video.width, height=video.height, bitrate=average,
                                     duration_seconds=round(sum(d for d, _ in segments), 3))
        result = HlsResult(rendition=rendition, playlist_key=key, segment_count=len(segments),
                           segment_durations=[round(d, 3) for d, _ in segments], bandwidth=peak,
                           average_bandwidth=average, resolution=f"{video.width}x{video.height}",
                           codecs=video_done.result.codecs, frame_rate=video_done.result.frame_rate,
                           segments_size_bytes=sum(size for _, size in segments))
        await rep.complete(layout.hls_task(rendition), [info], result, time.monotonic() - started)


class Finalizer(JobHandler):
    """Multivariant playlist and metadata.json."""

    service = SERVICE

    async def work_for(self, event: AnyJobEvent) -> Work | None:
        """Any completion, or permanent failure, of a task other than `metadata`; a replay
        (which may name `metadata` alone)."""
        if isinstance(event, Replayed):
            if layout.METADATA_TASK not in event.tasks:
                return None
        elif (not isinstance(event, TaskCompleted | TaskFailed) or event.task == layout.METADATA_TASK
              or (isinstance(event, TaskFailed) and not event.permanent)):
            return None
        ing = await ingested(self.facts, event.job_id)
        return Work(ingested=ing, trigger=event, tasks=[t for t in ing.plan if t.name == layout.METADATA_TASK],
                    duration=ing.probe.duration_seconds)

    async def handle(self, delivery: Delivery) -> None:
        found = await self.pending_work(delivery)
        if found is None:
            return
        work, rep = found
        ing, event = work.ingested, work.trigger
        # metadata itself is pending (else `pending_work` found nothing to do)
        done = {t.name: await completed(self.facts, ing.job_id, t.name) if t.name != layout.METADATA_TASK else None
                for t in ing.plan}
        if isinstance(event, TaskCompleted) and isinstance(event.result, HlsResult | TranscriptResult):
            await self._write_master(ing, done)
        for t in ing.plan:
            if t.name == layout.METADATA_TASK or done[t.name] is not None:
                continue
            if not (t.optional and await failed_permanently(self.facts, ing.job_id, t.name)):
                return  # still waiting for t
        await self._finish(ing, done, rep)

    async def _write_master(self, ing: Ingested, done: dict[str, TaskCompleted | None], final: bool = False) -> None:
        """Write `master.m3u8` (and the subtitles playlist) from the variants in `done`;
        `final` (every task settled) stores it as a playlist that will not change."""
        variants = []
        for fact in done.values():
            if fact is None or not isinstance(fact.result, HlsResult):
                continue
            hls = fact.result
            w, h = hls.size
            variants.append(Variant(uri=layout.relative_to_job(ing.job_id, hls.playlist_key), bandwidth=hls.bandwidth,
                                    average_bandwidth=hls.average_bandwidth, width=w, height=h,
                                    codecs=hls.codecs or "", frame_rate=hls.frame_rate or 0.0))
        if not variants:
            return
        subs = None
        transcript = next((f for f in done.values() if f is not None and isinstance(f.result, TranscriptResult)), None)
        vtt = next((o for o in (transcript.outputs if transcript else []) if o.key.endswith(".vtt")), None)
        if transcript is not None and isinstance(transcript.result, TranscriptResult) and vtt is not None:
            lang = transcript.result.language or "und"
            key = layout.subtitles_playlist_key(ing.job_id)
            await self.objects.put(key, subtitles_playlist("../" + layout.relative_to_job(ing.job_id, vtt.key),
                                                           ing.probe.duration_seconds).encode())
            subs = Subtitles(uri=layout.relative_to_job(ing.job_id, key), language=lang,
                             name=LANGUAGE_NAMES.get(lang, lang))
        await self.objects.put(layout.master_key(ing.job_id), multivariant_playlist(variants, subs).encode(),
                               FINAL_PLAYLIST_CACHE if final else None)

    async def _finish(self, ing: Ingested, done: dict[str, TaskCompleted | None], rep: TaskReporter) -> None:
        started = time.monotonic()
        key = layout.metadata_key(ing.job_id)
        has_master = any(f is not None and isinstance(f.result, HlsResult) for f in done.values())
        if has_master:
            await self._write_master(ing, done, final=True)
        doc = build_metadata(ing, done, layout.master_key(ing.job_id) if has_master else None, utcnow())
        size = await self.objects.put(key, json.dumps(doc, indent=2).encode())
        await rep.complete(layout.METADATA_TASK, [OutputInfo(key=key, size_bytes=size, kind="json")],
                           MetadataResult(master_playlist=layout.master_key(ing.job_id) if has_master else None),
                           time.monotonic() - started)
