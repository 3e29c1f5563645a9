"""finalizer: the `Finalizer` (durable `finalizer`, one message at a time per job
partition), the one writer of a job's `master.m3u8` and of its `metadata.json`. The HLS
media playlists and their segments are written by the transcoder while it encodes
(progressive HLS); the master is built by `media.master` alone.

- A progress fact of an `hls_<rendition>` task (the transcoder publishes one as soon as a
  rendition's first segment is stored): the master is rewritten when the set of variants
  with a segment changed, growing ones listed from their stored `EVENT` playlists.
- Any task completion: the master is rewritten from the variants ready so far (finished
  ones with their I-frame variants, plus subtitles once the transcript exists: the
  WebVTT copied to `subtitles/subtitles.vtt` with the `X-TIMESTAMP-MAP` of the TS segments).
- Once every other task of the plan is done: the final master, then `metadata.json`, and
  `metadata` completes.
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
    TaskProgress,
    TranscriptResult,
    layout,
    utcnow,
)
from media.hls import Subtitles, hls_webvtt, subtitles_playlist
from media.ladder import encoding_ladder
from media.master import MasterPlaylist, finished_variant, growing_variant
from runtime.jetstream.delivery import Delivery
from runtime.settings import Settings
from runtime.storage.objects import Objects
from runtime.storage.store import FINAL_PLAYLIST_CACHE
from runtime.worker.facts import Facts, completed, failed_permanently, ingested
from runtime.worker.handler import JobHandler, TaskReporter, Work, decode_or_permanent
from services.finalizer import NAME
from services.finalizer.metadata import build_metadata

#: Largest transcript WebVTT copied for HLS, in bytes.
MAX_VTT_BYTES = 64 * 1024 * 1024
#: Largest media or multivariant playlist read back, in bytes.
MAX_PLAYLIST_BYTES = 16 * 1024 * 1024
#: Renditions remembered as listed in a growing master (`<job_id>/<task>`).
MAX_LISTED = 4096

SERVICE = NAME
LANGUAGE_NAMES = {"en": "English", "fr": "Français", "de": "Deutsch", "es": "Español", "it": "Italiano",
                  "pt": "Português", "nl": "Nederlands", "ja": "日本語", "zh": "中文", "ru": "Русский"}


class Finalizer(JobHandler):
    """Multivariant playlist and metadata.json."""

    service = SERVICE
    uses_disk = False

    def __init__(self, settings: Settings, facts: Facts, objects: Objects):
        super().__init__(settings, facts, objects)
        self._listed: set[str] = set()

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
        event = decode_or_permanent(delivery.data)
        if isinstance(event, TaskProgress):
            if event.task.startswith(layout.hls_task("")):
                await self._growing_master(event.job_id, event.task)
            return
        if isinstance(event, TaskFailed) and not event.permanent and event.task.startswith(layout.hls_task("")):
            await self._unlist(event.job_id, event.task)
            return
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

    async def _growing_master(self, job_id: str, task: str) -> None:
        """`task`'s rendition may have its first segment: rewrite the master if the
        variants that have one are not those it lists. Once a rendition is listed (or the
        job's `metadata` completed: the master is final), its further progress facts cost
        a set lookup (`_listed`, at most `MAX_LISTED` entries)."""
        key = f"{job_id}/{task}"
        if key in self._listed:
            return
        if await completed(self.facts, job_id, layout.METADATA_TASK) is not None:
            self._remember(key)
            return
        rendition = task.removeprefix(layout.hls_task(""))
        if not await self._stored_segments(job_id, rendition, stat=False):
            return  # not yet: a later progress fact looks again
        ing = await ingested(self.facts, job_id)
        done = await self._done(ing)
        master = await self._master(ing, done, growing=True)
        stored = await self.objects.read(self.settings.s3.bucket, layout.master_key(job_id), MAX_PLAYLIST_BYTES)
        listed = frozenset(p.uri for p in m3u8.loads(stored.decode()).playlists) if stored else frozenset()
        if master.variants and master.listed != listed:
            await self.objects.put(layout.master_key(job_id), master.text().encode())
        self._remember(key)

    async def _unlist(self, job_id: str, task: str) -> None:
        """An attempt of `task` (an `hls_<r>`) failed and the transcoder removed what it
        had stored: rewrite the growing master from what is stored now, or remove it when
        nothing is left to list, so no stored playlist names a removed one. The retry's
        first segment lists the rendition again."""
        self._listed.discard(f"{job_id}/{task}")
        if await completed(self.facts, job_id, layout.METADATA_TASK) is not None:
            return
        ing = await ingested(self.facts, job_id)
        done = await self._done(ing)
        master = await self._master(ing, done, growing=True)
        if master.variants:
            await self.objects.put(layout.master_key(job_id), master.text().encode())
        else:
            await self.objects.remove_prefix(layout.master_key(job_id))

    async def _done(self, ing: Ingested) -> dict[str, TaskCompleted | None]:
        """The completion fact (or None) of every task of `ing`'s plan but `metadata`."""
        return {t.name: await completed(self.facts, ing.job_id, t.name) for t in ing.plan
                if t.name != layout.METADATA_TASK}

    def _remember(self, key: str) -> None:
        """Mark `<job_id>/<task>` as listed; forget them all past `MAX_LISTED` (a forgotten
        one is looked at once more)."""
        if len(self._listed) >= MAX_LISTED:
            self._listed.clear()
        self._listed.add(key)

    async def _master(self, ing: Ingested, done: dict[str, TaskCompleted | None], growing: bool) -> MasterPlaylist:
        """The job's master from the finished variants in `done` and, when `growing`, the
        renditions still encoding whose stored `EVENT` playlist names a segment."""
        variants = [finished_variant(ing.job_id, f.result) for f in done.values()
                    if f is not None and isinstance(f.result, HlsResult)]
        if growing:
            ladder = encoding_ladder(self.settings.media.encoding_profile)
            for t in ing.plan:
                if t.kind != "package" or done.get(t.name) is not None or t.rendition not in ladder:
                    continue
                segments = await self._stored_segments(ing.job_id, t.rendition)
                variant = growing_variant(ing.job_id, ladder[t.rendition], ing.probe, segments)
                if variant is not None:
                    variants.append(variant)
        return MasterPlaylist(tuple(variants), await self._subtitles(ing, done) if variants else None)

    async def _stored_segments(self, job_id: str, rendition: str, stat: bool = True) -> list[tuple[float, int]]:
        """`(duration seconds, size bytes)` of the segments the stored media playlist names
        (sizes from the store; 0 without `stat`: the transcoder stores a segment before
        the playlist naming it)."""
        text = await self.objects.read(self.settings.s3.bucket, layout.media_playlist_key(job_id, rendition),
                                       MAX_PLAYLIST_BYTES)
        if not text:
            return []
        prefix = layout.segments_prefix(job_id, rendition)
        segments = []
        for seg in m3u8.loads(text.decode()).segments:
            if not stat:
                segments.append((float(seg.duration), 0))
                continue
            ref = await self.objects.stat(self.settings.s3.bucket, prefix + seg.uri)
            if ref is None:
                break  # the transcoder stores segments before the playlist naming them
            segments.append((float(seg.duration), ref.size))
        return segments

    async def _subtitles(self, ing: Ingested, done: dict[str, TaskCompleted | None]) -> Subtitles | None:
        """The subtitles rendition once the transcript exists (its playlist and the HLS
        WebVTT with `X-TIMESTAMP-MAP` stored first), else None."""
        transcript = next((f for f in done.values() if f is not None and isinstance(f.result, TranscriptResult)),
                          None)
        vtt = next((o for o in (transcript.outputs if transcript else []) if o.key.endswith(".vtt")), None)
        if transcript is None or not isinstance(transcript.result, TranscriptResult) or vtt is None:
            return None
        mpegts = next((f.result.mpegts_start for f in done.values() if f is not None
                       and isinstance(f.result, HlsResult) and f.result.mpegts_start is not None), None)
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
        return Subtitles(uri=layout.relative_to_job(ing.job_id, key), language=lang,
                         name=LANGUAGE_NAMES.get(lang, lang))

    async def _write_master(self, ing: Ingested, done: dict[str, TaskCompleted | None],
                            final: bool = False) -> None:
        """Write `master.m3u8` from the variants in `done` (and, before `final`, the growing
        ones); `final` (every task settled) stores it as a playlist that will not change."""
        master = await self._master(ing, done, growing=not final)
        if master.variants:
            await self.objects.put(layout.master_key(ing.job_id), master.text().encode(),
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
