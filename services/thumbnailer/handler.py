"""thumbnailer: on `ingested`, `thumbnails` (five positions, `media.thumbnail.thumbnail_plan`:
never a full decode; timestamps recorded) and,
when the job brings one, `thumbnail_custom` (validated by decoding; an invalid one is a
permanent failure of that optional task only)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

from contracts import (
    AnyJobEvent,
    CustomThumbnailResult,
    Ingested,
    Thumbnail,
    ThumbnailsResult,
    layout,
)
from intake.submission import CUSTOM_MAX_BYTES, CUSTOM_MAX_PIXELS
from media.image import ImageRefused, first_still
from media.probe import frame_span, image_codec, keyframes_at_or_before
from media.run import FfmpegError, UnusableInput, ffmpeg_binary, run_quiet
from media.thumbnail import (
    custom_thumbnail_command,
    frames_command,
    thumbnail_command,
    thumbnail_plan,
    thumbnail_times,
)
from runtime.worker.handler import JobHandler, TaskReporter, Work
from services.thumbnailer import NAME

SERVICE = NAME
TASKS = (layout.CUSTOM_THUMBNAIL_TASK, layout.THUMBNAILS_TASK)
KINDS = ("thumbnails",)


def _written(path: Path) -> bool:
    """Whether ffmpeg wrote a non-empty `path`."""
    return path.exists() and path.stat().st_size > 0


class InvalidThumbnail(Exception):
    """The submitted custom thumbnail is not a JPG/PNG/WebP image within the size limit."""


class Thumbnailer(JobHandler):
    """Positional thumbnails and the custom one of an ingested job."""

    service = SERVICE

    @property
    def ffmpeg(self) -> str:
        """The ffmpeg binary (`TFLOW_FFMPEG`, else imageio-ffmpeg's)."""
        return ffmpeg_binary(self.settings.media.ffmpeg)

    async def work_for(self, event: AnyJobEvent) -> Work | None:
        work = await self.source_work(event, KINDS)
        if work is None:
            return None
        tasks = sorted((t for t in work.tasks if t.name in TASKS), key=lambda t: TASKS.index(t.name))
        return dataclasses.replace(work, tasks=tasks)

    async def run(self, work: Work, rep: TaskReporter) -> None:
        if work.has(layout.CUSTOM_THUMBNAIL_TASK):
            try:
                await self._custom(work.ingested, rep)
            except InvalidThumbnail as e:
                await rep.failed(e, permanent=True, tasks=[layout.CUSTOM_THUMBNAIL_TASK])
            except FfmpegError as e:  # an image that passed every check and still does not render: the
                # optional task fails, never the job
                await rep.failed(InvalidThumbnail(f"The custom thumbnail does not render: {e.stderr.strip()[-200:]}"),
                                 permanent=True, tasks=[layout.CUSTOM_THUMBNAIL_TASK])
        if work.has(layout.THUMBNAILS_TASK):
            await self._positions(work.ingested, rep)

    async def _positions(self, ingested: Ingested, rep: TaskReporter) -> None:
        started = time.monotonic()
        url, probe = self.objects.url(ingested.source.bucket, ingested.source.key), ingested.probe
        first, last = await asyncio.to_thread(frame_span, url, probe.duration_seconds)
        times = thumbnail_times(probe.duration_seconds, last, first)
        keys = dict(zip(times, await asyncio.to_thread(keyframes_at_or_before, url, list(times.values())),
                        strict=True))
        plan = thumbnail_plan(times, keys, first)
        limit = self.settings.worker.task_time_limit(0)
        thumbs, outputs = [], []
        with self.workdir(ingested.job_id) as scratch:
            out = {p: scratch / f"thumb_{p:02d}.jpg" for p in times}
            for p, at in plan.snapped.items():  # onto a keyframe: one decoded frame each
                await run_quiet(thumbnail_command(self.ffmpeg, url, probe, at, out[p], first_frame=first,
                                                  keyframe=True), limit)
            for start, group in plan.runs:  # positions sharing a keyframe: decoded once from it
                await run_quiet(frames_command(self.ffmpeg, url, probe, {out[p]: times[p] for p in group}, start,
                                               first), limit)
            for p, at in plan.at.items():
                if not _written(out[p]):  # e.g. a last packet that does not decode
                    await run_quiet(thumbnail_command(self.ffmpeg, url, probe, at, out[p], last=p == 100,
                                                      first_frame=first), limit)
            missing = {out[p]: at for p, at in plan.at.items() if not _written(out[p])}
            if missing:  # seeks that land past the only keyframe (an MPEG-TS without an index): decode from the start
                await run_quiet(frames_command(self.ffmpeg, url, probe, missing, None, first), limit)
            for p, at in plan.at.items():
                if not _written(out[p]):
                    raise UnusableInput(f"No frame of the video decodes at {at:.3f} s (thumbnail at {p} %)")
                _, w, h = image_codec(str(out[p]))
                key = layout.thumbnail_key(ingested.job_id, p)
                outputs.append(await self.upload(key, out[p], "jpeg", width=w, height=h))
                thumbs.append(Thumbnail(key=key, position_percent=p, timestamp_seconds=round(at, 3), width=w, height=h))
        primary = next(t.key for t in thumbs if t.position_percent == 50)
        await rep.complete(layout.THUMBNAILS_TASK, outputs, ThumbnailsResult(thumbnails=thumbs, primary=primary),
                           time.monotonic() - started)

    async def _custom(self, ingested: Ingested, rep: TaskReporter) -> None:
        started = time.monotonic()
        key, out_key = ingested.options.thumbnail_key or "", layout.custom_thumbnail_key(ingested.job_id)
        ref = await self.objects.stat(ingested.source.bucket, key)
        if ref is None:
            raise InvalidThumbnail(f"custom thumbnail {key} does not exist")
        if ref.size > CUSTOM_MAX_BYTES:
            raise InvalidThumbnail(f"custom thumbnail is {ref.size} bytes, above {CUSTOM_MAX_BYTES} bytes")
        data = await self.objects.read(ref.bucket, ref.key, CUSTOM_MAX_BYTES)
        if data is None:
            raise InvalidThumbnail(f"custom thumbnail {key} does not exist")
        try:
            still, _, _, _ = await asyncio.to_thread(first_still, data, CUSTOM_MAX_PIXELS)
        except ImageRefused as e:
            raise InvalidThumbnail(f"The custom thumbnail is refused: {e}.") from e
        with self.workdir(ingested.job_id) as scratch:
            src, out = scratch / "custom_source", scratch / "thumb_custom.jpg"
            src.write_bytes(still)  # an animated image's first frame
            await run_quiet(custom_thumbnail_command(self.ffmpeg, str(src), out),
                            self.settings.worker.task_time_limit(0))
            _, w, h = image_codec(str(out))
            info = await self.upload(out_key, out, "jpeg", width=w, height=h)
        await rep.complete(layout.CUSTOM_THUMBNAIL_TASK, [info], CustomThumbnailResult(primary=out_key),
                           time.monotonic() - started)
