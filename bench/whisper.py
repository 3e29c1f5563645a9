"""Whisper benchmark (issue: transcriber): real-time factor (audio seconds / wall seconds)
and peak memory on this machine, for every installed model, int8 vs float32, VAD on vs
off, on the same clip: the five LibriVox recordings of ../shared/media/speech joined.

Then (issue: speed) the decoding strategy on base/int8/VAD: faster-whisper's sequential
`WhisperModel.transcribe` against its `BatchedInferencePipeline` (VAD chunks decoded
as one batch), beam sizes 5 and 1, with the word error rate against the LibriVox
reference text (the e2e test's normaliser).

Each configuration runs in its own process (so peak RSS is its own: model load
included). Ratios are against the production configuration (base, int8, VAD on) of
the same run. JSON to bench/results/.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from report import write_results  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
SPEECH = ROOT.parent / "shared" / "media" / "speech"


def clip() -> object:
    import numpy as np
    from faster_whisper import decode_audio

    parts = [decode_audio(str(p), sampling_rate=16000) for p in sorted(SPEECH.glob("*.wav"))]
    return np.concatenate(parts)


def one(model_name: str, compute_type: str, vad: bool, beam: int = 5, batch: int = 0, words: bool = True) -> dict:
    """One configuration in this process; `batch` > 0: `BatchedInferencePipeline` with that
    batch size (VAD always on: it cuts the batches); `words`: word timestamps (the
    transcriber needs them: transcript JSON, search by spoken word)."""
    import jiwer
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    from media.whisper_models import installed_models
    from tests.integration.pipeline.test_transcription_e2e import CLIPS, NORMALISE, reference

    models = {m.name: m for m in installed_models(ROOT / "data" / "models")}
    detect = model_name == "detect+tiny.en"  # the transcriber's path for an English job under 5 min
    model = models["tiny.en" if detect else model_name]
    audio = clip()
    t0 = time.monotonic()

    def load(m: Any) -> Any:
        return WhisperModel(str(m.path), device="cpu", compute_type=compute_type, cpu_threads=os.cpu_count() or 1,
                            local_files_only=True)
    wm = load(model)
    detector = load(models["base"]) if detect else None
    loading = time.monotonic() - t0
    t1 = time.monotonic()
    language = "en" if model.english_only else None
    if detector is not None:
        found, _prob, _ = detector.detect_language(audio, vad_filter=True)
        language = "en" if found == "en" else None
    if batch:
        segments, info = BatchedInferencePipeline(model=wm).transcribe(audio, word_timestamps=words, beam_size=beam,
                                                                       language=language, batch_size=batch)
    else:
        segments, info = wm.transcribe(audio, vad_filter=vad, word_timestamps=words, beam_size=beam, language=language)
    text = " ".join(s.text.strip() for s in segments)
    wall = time.monotonic() - t1
    wer = jiwer.wer(reference(CLIPS), text, reference_transform=NORMALISE, hypothesis_transform=NORMALISE)
    seconds = len(audio) / 16000
    return {"model": model_name, "compute_type": compute_type, "vad": vad, "beam_size": beam, "batch_size": batch,
            "word_timestamps": words,
            "wer": round(wer, 4), "audio_seconds": round(seconds, 2),
            "load_seconds": round(loading, 2), "transcribe_seconds": round(wall, 2),
            "real_time_factor": round(seconds / wall, 2),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "language": info.language, "words": len(text.split())}


def run(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True)
    r: dict = json.loads(out.stdout.strip().splitlines()[-1])
    print(r, flush=True)
    return r


def strategies() -> list[dict]:
    """base/int8/VAD: sequential vs batched, beam 5 vs 1; ratios against the sequential
    beam-5 run (the configuration before this comparison)."""
    runs = [run("base", "int8", "vad", str(beam), str(batch)) for batch in (0, 8) for beam in (5, 1)]
    runs.append(run("base", "int8", "vad", "1", "4"))
    runs += [run("base", "int8", "vad", "1", str(batch), "nowords") for batch in (0, 8)]  # what word times cost
    from media.whisper_models import installed_models

    runs += [run(m.name, "int8", "vad", "1", "0") for m in installed_models(ROOT / "data" / "models")
             if m.name != "base"]
    runs.append(run("detect+tiny.en", "int8", "vad", "1", "0"))  # detection by base included
    base = runs[0]
    for r in runs:
        r["rtf_vs_sequential_beam5"] = round(r["real_time_factor"] / base["real_time_factor"], 2)
    return runs


def main() -> None:
    if len(sys.argv) >= 4:
        beam, batch = (int(sys.argv[4]), int(sys.argv[5])) if len(sys.argv) >= 6 else (5, 0)
        words = len(sys.argv) < 7 or sys.argv[6] != "nowords"
        print(json.dumps(one(sys.argv[1], sys.argv[2], sys.argv[3] == "vad", beam, batch, words)))
        return
    if "--strategies" in sys.argv:
        write_results("whisper-strategies", {"cpus": os.cpu_count(), "runs": strategies()})
        return
    from media.whisper_models import installed_models

    models = [m.name for m in installed_models(ROOT / "data" / "models")]
    runs = []
    for name in models:
        for ct in ("int8", "float32"):
            for vad in (True, False):
                out = subprocess.run([sys.executable, __file__, name, ct, "vad" if vad else "novad"],
                                     capture_output=True, text=True, check=True)
                r = json.loads(out.stdout.strip().splitlines()[-1])
                print(r, flush=True)
                runs.append(r)
    base = next(r for r in runs if (r["model"], r["compute_type"], r["vad"]) == ("base", "int8", True))
    for r in runs:
        r["rtf_vs_base_int8_vad"] = round(r["real_time_factor"] / base["real_time_factor"], 2)
        r["memory_vs_base_int8_vad"] = round(r["peak_rss_mib"] / base["peak_rss_mib"], 2)
    res = {"cpus": os.cpu_count(), "clip": "5 LibriVox clips joined (16 kHz mono)", "runs": runs,
           "strategies": strategies()}
    write_results("whisper", res)


if __name__ == "__main__":
    main()
