"""finalizer: the `Finalizer` (durable `finalizer`, one message at a time per job
partition, so writes of one job's master never race). The HLS media playlists and their
segments are written by the transcoder while it encodes (progressive HLS).

On any task completion, rewrite `master.m3u8` from the variants ready so far (with their
I-frame variants, plus subtitles once the transcript exists: the WebVTT copied to
`subtitles/subtitles.vtt` with the `X-TIMESTAMP-MAP` of the TS segments); once every
other task of the plan is done, write `metadata.json` and complete `metadata`.
"""

from __future__ import annotations

import json
import time

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
    layout,
    utcnow,
)
from media.hls import Subtitles, Variant, hls_webvtt, multivariant_playlist, subtitles_playlist
from runtime.jetstream.delivery import Delivery
from runtime.storage.store import FINAL_PLAYLIST_CACHE
from runtime.worker.facts import completed, failed_permanently, ingested
from runtime.worker.handler import JobHandler, TaskReporter, Work
from services.finalizer import NAME
from services.finalizer.metadata import build_metadata

#: Largest transcript WebVTT copied for HLS, in bytes.
MAX_VTT_BYTES = 64 * 1024 * 1024

SERVICE = NAME
LANGUAGE_NAMES = {"en": "English", "fr": "Français", "de": "Deutsch", "es": "Español", "it": "Italiano",
                  "pt": "Português", "nl": "Nederlands", "ja": "日本語", "zh": "中文", "ru": "Русский"}


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
                                    codecs=hls.codecs or "", frame_rate=hls.frame_rate or 0.0,
                                    iframe_uri=layout.relative_to_job(ing.job_id, hls.iframe_playlist_key)
                                    if hls.iframe_playlist_key else None, iframe_bandwidth=hls.iframe_bandwidth))
        if not variants:
            return
        subs = None
        transcript = next((f for f in done.values() if f is not None and isinstance(f.result, TranscriptResult)), None)
        vtt = next((o for o in (transcript.outputs if transcript else []) if o.key.endswith(".vtt")), None)
        mpegts = next((f.result.mpegts_start for f in done.values() if f is not None
                       and isinstance(f.result, HlsResult) and f.result.mpegts_start is not None), None)
        if transcript is not None and isinstance(transcript.result, TranscriptResult) and vtt is not None:
            lang = transcript.result.language or "und"
            uri = "../" + layout.relative_to_job(ing.job_id, vtt.key)
            text = (await self.objects.read(self.settings.s3.bucket, vtt.key, MAX_VTT_BYTES)
                    if mpegts is not None else None)
            if text is not None and mpegts is not None:
                await self.objects.put(layout.subtitles_vtt_key(ing.job_id),
                                       hls_webvtt(text.decode("utf-8", "replace"), mpegts).encode())
                uri = layout.subtitles_vtt_key(ing.job_id).rsplit("/", 1)[1]
            key = layout.subtitles_playlist_key(ing.job_id)
            await self.objects.put(key, subtitles_playlist(uri, ing.probe.duration_seconds).encode())
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
