"""transcriber: on `ingested` with a `transcription` task, decode the source's audio
(16 kHz mono, straight from the presigned URL, not waiting for the MP3), run
faster-whisper (CPU, int8, VAD on, word timestamps), upload TXT/SRT/VTT/JSON under
`processed/<job>/transcription/` and complete with language, word count and model."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from pathlib import Path

from minio import Minio
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from contracts import Ingested, OutputInfo, TaskCompleted, TaskProgress, decode_job_event, utcnow
from services.transcriber.formats import Segment, Word, to_json, to_srt, to_txt, to_vtt, word_count
from services.transcriber.models import Model, choose_model, installed_models
from tflow import store
from tflow.ladder import processed_prefix
from tflow.natsio import decode_or_permanent, publish_event
from tflow.settings import Settings
from tflow.worker import JobHandler, TaskReporter, completed, job_workdir

log = logging.getLogger(__name__)
SERVICE = "transcriber"
SAMPLE_RATE = 16_000


class Transcriber(JobHandler):
    """The transcriber's handler; models are loaded once per process and kept."""

    service = SERVICE

    def __init__(self, settings: Settings, js: JetStreamContext, client: Minio):
        super().__init__(settings, js, client)
        self.installed = installed_models(settings.data_dir / "models", settings.whisper_model_dir)
        self._loaded: dict[str, object] = {}
        self._lock = threading.Lock()
        log.info("whisper models installed: %s", ", ".join(f"{m.name} ({m.path})" for m in self.installed))

    def _model(self, m: Model):
        from faster_whisper import WhisperModel

        with self._lock:
            if m.name not in self._loaded:
                self._loaded[m.name] = WhisperModel(str(m.path), device="cpu",
                                                    compute_type=self.s.whisper_compute_type,
                                                    cpu_threads=self.s.whisper_threads or os.cpu_count() or 1,
                                                    local_files_only=True)
            return self._loaded[m.name]

    async def handle(self, msg: Msg) -> None:
        ev = decode_or_permanent(decode_job_event, msg.data)
        if not isinstance(ev, Ingested) or "transcription" not in {t.name for t in ev.plan}:
            return
        if await completed(self.js, ev.job_id, "transcription"):
            return
        rep = TaskReporter(self.js, SERVICE, ev.job_id, ["transcription"], msg.metadata.num_delivered,
                           ev.probe.duration_seconds)
        await self.reported(rep, self._transcribe(ev))

    async def on_failure(self, msg: Msg, error: BaseException) -> None:
        await self.fail_final(msg, ["transcription"], error)

    async def _transcribe(self, ev: Ingested) -> None:
        started = time.monotonic()
        language = ev.options.transcription_language
        model, rule = choose_model(ev.probe.duration_seconds, ev.options.whisper_model, language, self.installed)
        url = store.presigned_url(self.client, ev.source)
        loop = asyncio.get_running_loop()
        positions: asyncio.Queue[float] = asyncio.Queue()
        halt = threading.Event()  # set when the job is cancelled: the thread stops at the next segment

        def work():
            from faster_whisper import decode_audio

            audio = decode_audio(url, sampling_rate=SAMPLE_RATE)
            segments_iter, info = self._model(model).transcribe(
                audio, language=language, vad_filter=True, word_timestamps=True, beam_size=self.s.whisper_beam_size)
            out = []
            for s in segments_iter:
                if halt.is_set():
                    break
                # faster-whisper yields numpy floats: plain floats from here on
                out.append(Segment(start=float(s.start), end=float(s.end), text=s.text,
                                   avg_logprob=float(s.avg_logprob), no_speech_prob=float(s.no_speech_prob),
                                   words=[Word(float(w.start), float(w.end), w.word, float(w.probability))
                                          for w in (s.words or [])]))
                loop.call_soon_threadsafe(positions.put_nowait, float(s.end))
            return out, info, len(audio) / SAMPLE_RATE

        job = loop.run_in_executor(None, work)
        try:
            segments, info, audio_seconds = await self._follow(ev, job, positions, started)
        except asyncio.CancelledError:
            halt.set()
            raise
        await self._finish(ev, model, rule, language, segments, info, audio_seconds, started)

    async def _follow(self, ev: Ingested, job, positions: asyncio.Queue, started: float):
        """Publish progress while the decoding thread runs; return its result."""
        duration = ev.probe.duration_seconds
        last_sent = 0.0
        while not job.done():
            try:
                pos = await asyncio.wait_for(positions.get(), 0.5)
            except TimeoutError:
                continue
            now = time.monotonic()
            if now - last_sent >= self.s.progress_interval_seconds:
                last_sent = now
                elapsed = now - started
                speed = pos / elapsed if elapsed > 0 else None
                await publish_event(self.js, TaskProgress(
                    job_id=ev.job_id, at=utcnow(), task="transcription", percent=round(min(99.9, 100 * pos / duration), 2),
                    speed=round(speed, 3) if speed else None,
                    eta_seconds=round((duration - pos) / speed, 2) if speed else None), SERVICE)
        return await job

    async def _finish(self, ev: Ingested, model: Model, rule: str, language: str | None, segments: list[Segment],
                      info, audio_seconds: float, started: float) -> None:
        duration = ev.probe.duration_seconds
        media_seconds = min(duration, audio_seconds) if audio_seconds else duration
        detected = info.language if language is None else language
        prob = round(float(info.language_probability), 4) if language is None else 1.0
        files = {"transcript.txt": to_txt(segments), "transcript.srt": to_srt(segments, media_seconds),
                 "transcript.vtt": to_vtt(segments, media_seconds),
                 "transcript.json": to_json(segments, language=detected, language_probability=prob, model=model.name,
                                            duration=round(media_seconds, 3))}
        prefix = f"{processed_prefix(ev.job_id)}transcription/"
        outputs = []
        with job_workdir(self.s, ev.job_id, SERVICE) as wd:
            for name, text in files.items():
                path: Path = wd / name
                path.write_text(text, encoding="utf-8")
                await asyncio.to_thread(store.upload_file, self.client, self.s.bucket, prefix + name, path)
                outputs.append(OutputInfo(key=prefix + name, size_bytes=path.stat().st_size, kind=name.rsplit(".", 1)[1],
                                          duration_seconds=round(media_seconds, 3)))
        seconds = round(time.monotonic() - started, 3)
        await publish_event(self.js, TaskCompleted(job_id=ev.job_id, at=utcnow(), task="transcription", outputs=outputs,
                                                   details={"language": detected, "language_probability": prob,
                                                            "word_count": word_count(segments), "model": model.name,
                                                            "model_rule": rule, "segments": len(segments),
                                                            "duration": round(media_seconds, 3),
                                                            "real_time_factor": round(media_seconds / seconds, 2)},
                                                   seconds=seconds), SERVICE)
