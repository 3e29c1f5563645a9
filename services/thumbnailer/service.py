"""thumbnailer: on `ingested`, `thumbnails` (five positions, timestamps recorded) and,
when the job brings one, `thumbnail_custom` (validated by decoding; an invalid one is a
permanent failure of that optional task only)."""

from __future__ import annotations

import asyncio
import logging
import time

import av
from nats.aio.msg import Msg

from contracts import Ingested, OutputInfo, TaskCompleted, decode_job_event, utcnow
from services.thumbnailer.commands import (
    CUSTOM_CODECS,
    CUSTOM_MAX_BYTES,
    custom_thumbnail_command,
    thumbnail_command,
    thumbnail_times,
)
from tflow import store
from tflow.ffmpeg import run_quiet
from tflow.ladder import processed_prefix
from tflow.media import frame_span, image_codec
from tflow.natsio import decode_or_permanent, publish_event
from tflow.worker import JobHandler, TaskReporter, completed, job_workdir

log = logging.getLogger(__name__)
SERVICE = "thumbnailer"


class InvalidThumbnail(Exception):
    """The submitted custom thumbnail is not a JPG/PNG/WebP image within the size limit."""


class Thumbnailer(JobHandler):
    """The thumbnailer's handler."""

    service = SERVICE

    async def handle(self, msg: Msg) -> None:
        ev = decode_or_permanent(decode_job_event, msg.data)
        if not isinstance(ev, Ingested):
            return
        names = {t.name for t in ev.plan}
        attempt = msg.metadata.num_delivered
        if "thumbnail_custom" in names and not await completed(self.js, ev.job_id, "thumbnail_custom"):
            await self._custom(ev, attempt)
        if "thumbnails" in names and not await completed(self.js, ev.job_id, "thumbnails"):
            rep = TaskReporter(self.js, SERVICE, ev.job_id, ["thumbnails"], attempt, ev.probe.duration_seconds)
            await self.reported(rep, self._positions(ev))

    async def on_failure(self, msg: Msg, error: BaseException) -> None:
        await self.fail_final(msg, ["thumbnails"], error)

    async def _positions(self, ev: Ingested) -> None:
        started = time.monotonic()
        url = store.presigned_url(self.client, ev.source)
        first, last = await asyncio.to_thread(frame_span, url, ev.probe.duration_seconds)
        prefix = f"{processed_prefix(ev.job_id)}thumbnails/"
        thumbs, outputs = [], []
        with job_workdir(self.s, ev.job_id, SERVICE) as wd:
            for p, at in thumbnail_times(ev.probe.duration_seconds, last, first).items():
                out = wd / f"thumb_{p:02d}.jpg"
                await run_quiet(thumbnail_command(self.s.ffmpeg_binary(), url, ev.probe, at, out, last=p == 100,
                                                  first_frame=first))
                if not out.exists() or out.stat().st_size == 0:
                    raise RuntimeError(f"no frame at {at:.3f} s for thumb_{p:02d}")
                codec, w, h = image_codec(str(out))
                key = prefix + out.name
                await asyncio.to_thread(store.upload_file, self.client, self.s.bucket, key, out)
                thumbs.append({"key": key, "position_percent": p, "timestamp_seconds": round(at, 3),
                               "width": w, "height": h})
                outputs.append(OutputInfo(key=key, size_bytes=out.stat().st_size, kind="jpeg", width=w, height=h))
        primary = next(t["key"] for t in thumbs if t["position_percent"] == 50)
        await publish_event(self.js, TaskCompleted(job_id=ev.job_id, at=utcnow(), task="thumbnails", outputs=outputs,
                                                   details={"thumbnails": thumbs, "primary": primary},
                                                   seconds=round(time.monotonic() - started, 3)), SERVICE)

    async def _custom(self, ev: Ingested, attempt: int) -> None:
        rep = TaskReporter(self.js, SERVICE, ev.job_id, ["thumbnail_custom"], attempt, 1.0)
        await rep.started()
        started = time.monotonic()
        try:
            key, out_key = ev.options.thumbnail_key or "", f"{processed_prefix(ev.job_id)}thumbnails/thumb_custom.jpg"
            ref = await asyncio.to_thread(store.stat, self.client, ev.source.bucket, key)
            if ref is None:
                raise InvalidThumbnail(f"custom thumbnail {key} does not exist")
            if ref.size > CUSTOM_MAX_BYTES:
                raise InvalidThumbnail(f"custom thumbnail is {ref.size} bytes, above {CUSTOM_MAX_BYTES} bytes")
            url = store.presigned_url(self.client, ref)
            try:
                codec, _, _ = await asyncio.to_thread(image_codec, url)
            except (av.FFmpegError, ValueError) as e:
                raise InvalidThumbnail(f"custom thumbnail does not decode as an image: {e}") from e
            if codec not in CUSTOM_CODECS:
                raise InvalidThumbnail(f"custom thumbnail is {codec}, not JPG, PNG or WebP")
            with job_workdir(self.s, ev.job_id, SERVICE) as wd:
                out = wd / "thumb_custom.jpg"
                await run_quiet(custom_thumbnail_command(self.s.ffmpeg_binary(), url, out))
                _, w, h = image_codec(str(out))
                await asyncio.to_thread(store.upload_file, self.client, self.s.bucket, out_key, out)
                info = OutputInfo(key=out_key, size_bytes=out.stat().st_size, kind="jpeg", width=w, height=h)
        except InvalidThumbnail as e:
            await rep.failed(e, permanent=True)
            return
        await publish_event(self.js, TaskCompleted(job_id=ev.job_id, at=utcnow(), task="thumbnail_custom",
                                                   outputs=[info], details={"primary": out_key},
                                                   seconds=round(time.monotonic() - started, 3)), SERVICE)



