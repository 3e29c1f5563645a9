"""transcriber: on `ingested` with a `transcription` task, decode the source's audio
(16 kHz mono, straight from the presigned URL, not waiting for the MP3), run
faster-whisper (CPU, int8, VAD on, word timestamps), upload TXT/SRT/VTT/JSON under
`processed/<job>/transcription/` and complete with language, word count and model.

The model is the PRD rule's size (`choose_model`); with no language asked, the
multilingual model detects it first, and an English job goes to the English-only model
of that size when one is installed (tiny.en under 5 minutes). Audio in which voice
activity detection finds no speech (music, silence) runs no model at all."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from contracts import (
    AnyJobEvent,
    Ingested,
    JobOptions,
    TranscriptLine,
    TranscriptResult,
    layout,
    transcript_parts,
    utcnow,
)
from media.audio import decode_audio
from media.run import Progress, Stalled, TimeLimitExceeded
from media.whisper_models import Model, choose_model, installed_models, verify
from runtime.settings import Settings
from runtime.storage.objects import Objects
from runtime.worker.facts import Facts
from runtime.worker.handler import JobHandler, TaskReporter, Work
from services.transcriber import NAME
from services.transcriber.formats import Segment, Word, to_json, to_srt, to_txt, to_vtt, word_count
from services.transcriber.language import detect_language

log = logging.getLogger(__name__)
SERVICE = NAME
SAMPLE_RATE = 16_000


#: Language probability above which a job detected as English is transcribed by the
#: English-only model of the rule's size (tiny.en under 5 min: bench/whisper.py measured it
#: at 12x real time with base's WER on the LibriVox clips).
ENGLISH_ONLY_THRESHOLD = 0.8

#: The language of a transcript without speech when none was asked for (BCP 47, RFC 5646 §2.2.1).
UNDETERMINED = "und"


def speech_found(audio: Any) -> bool:
    """Whether faster-whisper's voice activity detector (Silero VAD, its default options,
    the same `vad_filter=True` applies) finds any speech in `audio` (16 kHz mono float32):
    a few milliseconds per minute, where a Whisper pass on music costs about a second."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    return bool(get_speech_timestamps(audio, VadOptions()))


class Transcriber(JobHandler):
    """The transcriber's handler; models are loaded once per process and kept."""

    service = SERVICE

    def __init__(self, settings: Settings, facts: Facts, objects: Objects):
        super().__init__(settings, facts, objects)
        self.installed = installed_models(settings.whisper_models_dir, settings.whisper.model_dir)
        self._loaded: dict[str, Any] = {}
        self._lock = threading.Lock()
        log.info("whisper models installed: %s", ", ".join(f"{m.name} ({m.path})" for m in self.installed))

    def _model(self, m: Model) -> Any:
        from faster_whisper import WhisperModel

        with self._lock:
            if m.name not in self._loaded:
                verify(m)  # every file by SHA-256, before a byte of it is loaded
                self._loaded[m.name] = WhisperModel(str(m.path), device="cpu",
                                                    compute_type=self.settings.whisper.compute_type,
                                                    cpu_threads=self.settings.whisper.threads or os.cpu_count() or 1,
                                                    local_files_only=True)
            return self._loaded[m.name]

    async def work_for(self, event: AnyJobEvent) -> Work | None:
        return await self.source_work(event, ("transcription",))

    async def run(self, work: Work, rep: TaskReporter) -> None:
        await self._transcribe(work.ingested, work.job_options, rep)

    async def _transcribe(self, ingested: Ingested, options: JobOptions, rep: TaskReporter) -> None:
        started = time.monotonic()
        language = options.transcription_language
        model, rule = choose_model(ingested.probe.duration_seconds, options.whisper_model, language,
                                   self.installed)
        url = self.objects.url(ingested.source.bucket, ingested.source.key)
        loop = asyncio.get_running_loop()
        positions: asyncio.Queue[float] = asyncio.Queue()
        halt = threading.Event()  # set when the job is cancelled: the thread stops at the next segment

        english = choose_model(ingested.probe.duration_seconds, options.whisper_model, "en", self.installed)[0]
        detected: list[tuple[Model, str, float]] = []  # (model that transcribed, language found, probability)

        def work() -> tuple[list[Segment], Any, float]:
            audio = decode_audio(url, SAMPLE_RATE)
            if not speech_found(audio):
                return [], None, len(audio) / SAMPLE_RATE  # no model runs on music or silence
            chosen, lang = model, language
            if language is None and not model.english_only:
                # identified here, over the raw window and the speech (`detect_language`), and
                # passed on: no second detection inside transcribe. When the rule's size has an
                # English-only model, English speech goes to it.
                found, prob = detect_language(self._model(model), audio)
                if found == "en" and prob >= ENGLISH_ONLY_THRESHOLD and english.english_only:
                    chosen = english
                lang = found
                detected.append((chosen, found, prob))
            segments_iter, info = self._model(chosen).transcribe(
                audio, language=lang, vad_filter=True, word_timestamps=True,
                beam_size=self.settings.whisper.beam_size)
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
            segments, info, audio_seconds = await self._follow(job, positions, started, rep,
                                                               ingested.probe.duration_seconds)
        except (asyncio.CancelledError, Stalled, TimeLimitExceeded):
            halt.set()  # the thread stops at its next segment; its result is dropped
            raise
        if detected:
            model, found, prob = detected[0]
            await self._finish(ingested, model, rule, None, segments, info, audio_seconds, started, rep, (found, prob))
        else:
            await self._finish(ingested, model, rule, language, segments, info, audio_seconds, started, rep)

    async def _follow(self, job: asyncio.Future[tuple[list[Segment], Any, float]], positions: asyncio.Queue[float],
                      started: float, rep: TaskReporter, duration: float) -> tuple[list[Segment], Any, float]:
        """Publish progress (at most every `progress_interval_seconds`) while the
        decoding thread runs; return its result. Raises `Stalled` when no segment came for
        `task_stall_seconds` once segments flow (decoding the audio and the language
        detection come first), `TimeLimitExceeded` past the task's time limit."""
        last_sent, last_segment, limit = 0.0, None, self.settings.worker.task_time_limit(duration)
        stall = self.settings.worker.task_stall_seconds
        while not job.done():
            now = time.monotonic()
            if now - started > limit:
                raise TimeLimitExceeded(f"transcription ran past its time limit of {limit:.0f}s")
            if last_segment is not None and now - last_segment > stall:
                raise Stalled(f"Whisper produced no segment for {stall:.0f}s")
            try:
                pos = await asyncio.wait_for(positions.get(), 0.5)
            except TimeoutError:
                continue
            now = last_segment = time.monotonic()
            if now - last_sent >= self.settings.media.progress_interval_seconds:
                last_sent = now
                elapsed = now - started
                speed = round(pos / elapsed, 3) if elapsed > 0 else None
                await rep.progress(Progress(position_seconds=pos, speed=speed, done=False))
        return await job

    async def _finish(self, ingested: Ingested, model: Model, rule: str, language: str | None, segments: list[Segment],
                      info: Any, audio_seconds: float, started: float, rep: TaskReporter,
                      detection: tuple[str, float] | None = None) -> None:
        """Store the four formats and complete the task. `language`: the one asked for
        (None: detected); `detection`: the language and probability the multilingual model
        found before `model` transcribed. `info` None: voice activity detection found no
        speech and no model ran; the language is the one asked for, else `und` (BCP 47
        "undetermined") at probability 0."""
        duration = ingested.probe.duration_seconds
        media_seconds = min(duration, audio_seconds) if audio_seconds else duration
        if info is None:
            detected, prob = (language, 1.0) if language is not None else (UNDETERMINED, 0.0)
        else:
            detected = info.language if language is None else language
            prob = round(float(info.language_probability), 4) if language is None else 1.0
        if detection is not None:
            detected, prob = detection
        files = {"txt": to_txt(segments), "srt": to_srt(segments, media_seconds),
                 "vtt": to_vtt(segments, media_seconds),
                 "json": to_json(segments, language=detected, language_probability=prob, model=model.name,
                                 duration=round(media_seconds, 3))}
        outputs = []
        with self.workdir(ingested.job_id) as scratch:
            for fmt, text in files.items():
                path: Path = scratch / f"transcript.{fmt}"
                path.write_text(text, encoding="utf-8")
                outputs.append(await self.upload(layout.transcript_key(ingested.job_id, fmt), path, fmt,
                                                 duration_seconds=round(media_seconds, 3)))
        lines = [TranscriptLine(round(seg.start, 3), round(seg.end, 3), seg.text.strip()) for seg in segments]
        for fact in transcript_parts(ingested.job_id, utcnow(), detected, lines,
                                     rep.epoch(layout.TRANSCRIPTION_TASK)):
            await self.facts.publish(fact)  # the search index's input, before the completion
        seconds = time.monotonic() - started
        await rep.complete(layout.TRANSCRIPTION_TASK, outputs, TranscriptResult(
            language=detected, language_probability=prob, word_count=word_count(segments), model=model.name,
            model_rule=rule, model_requested=ingested.options.whisper_model, segments=len(segments),
            duration=round(media_seconds, 3),
            real_time_factor=round(media_seconds / round(seconds, 3), 2)), seconds)
