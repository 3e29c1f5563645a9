"""Search inside videos over 10,000 transcripts: p50/p95/p99 latency of
`GET /api/v1/search` against `GET /api/v1/jobs?limit=20` (the baseline) in the same run.

The transcripts go the real way: `received` and `transcript_text` facts published to
JOBS, folded by the real projector into Postgres (the fold time is reported too), read
by the real API. Their words: the real English text of ../shared/media (the LibriVox
reference, the `friday` subtitles, the Popeye subtitles) as the frequent words, plus a
long tail of 20,000 made-up words, drawn with a Zipf law (s = 1.1) as in speech; each
transcript has 40 lines of 12 words. Queries: 200 single words and 100 two-word queries
drawn from the same law, so common and rare words both occur.

    python bench/search.py [--transcripts 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from report import write_results  # noqa: E402

from contracts import ObjectRef, Received, TranscriptLine, encode, msg_id_for, subject_for, transcript_parts  # noqa: E402
from ops.stack import loopback_settings, running_stack, wait_for_http  # noqa: E402
from readmodel import projection as pstore  # noqa: E402
from readmodel.db import create_pool  # noqa: E402
from runtime.jetstream.connection import connect  # noqa: E402
from runtime.settings import Settings  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media"
LINES, WORDS_PER_LINE = 40, 12


def vocabulary(rng: random.Random) -> list[str]:
    """Real words first (most frequent), then a made-up tail."""
    text = " ".join(p.read_text(errors="replace") for p in [MEDIA / "speech" / "librivox.transcription",
                                                         MEDIA / "valid" / "friday_640x480_speech_h264_aac.en.vtt",
                                                         MEDIA / "valid" / "hevc_1440x1074_noaudio_subs.eng.srt"])
    real = list(dict.fromkeys(w.lower() for w in re.findall(r"[A-Za-z]{2,}", text) if w.lower() not in
                              {"webvtt", "sense", "sensibility", "austen", "kb"}))
    syllables = ["ka", "lo", "mi", "ra", "sen", "tor", "vi", "del", "mur", "pa", "qui", "zan", "ber", "nos", "ti"]
    tail = {"".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(30_000)}
    return real + sorted(tail - set(real))[:20_000]


def zipf_weights(n: int, s: float = 1.1) -> list[float]:
    return [1.0 / (rank ** s) for rank in range(1, n + 1)]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def publish(settings: Settings, n: int, vocab: list[str], weights: list[float], rng: random.Random) -> int:
    nc = await connect(settings, "bench-search")
    js = nc.jetstream()
    now = datetime.now(UTC)
    last = 0
    pending = []
    for i in range(n):
        job = str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench-search/{i}"))
        ref = ObjectRef(bucket="videos", key=f"raw/bench/search-{i:05d}.mp4", etag=f"{i:032x}", size=1000)
        words = rng.choices(vocab, weights, k=LINES * WORDS_PER_LINE)
        lines = [TranscriptLine(j * 3.0, j * 3.0 + 2.8, " ".join(words[j * WORDS_PER_LINE:(j + 1) * WORDS_PER_LINE]))
                 for j in range(LINES)]
        for fact in [Received(job_id=job, at=now, source=ref, origin="bucket"),
                     *transcript_parts(job, now, "en", lines)]:
            pending.append(js.publish(subject_for(fact), encode(fact), headers={"Nats-Msg-Id": msg_id_for(fact)}))
        if len(pending) >= 256:
            acks = await asyncio.gather(*pending)
            last, pending = acks[-1].seq, []
    if pending:
        last = (await asyncio.gather(*pending))[-1].seq
    await nc.close()
    return last


async def wait_projected(settings: Settings, seq: int) -> None:
    pool = await create_pool(settings.database.url or "")
    try:
        while await pstore.read_checkpoint(pool) < seq:
            await asyncio.sleep(0.2)
    finally:
        await pool.close()


def timed(client: httpx.Client, path: str, params: dict) -> tuple[float, dict]:
    t0 = time.perf_counter()
    r = client.get(path, params=params)
    took = time.perf_counter() - t0
    r.raise_for_status()
    return took * 1000, r.json()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--transcripts", type=int, default=10_000)
    args = ap.parse_args()
    rng = random.Random(20261201)
    vocab = vocabulary(rng)
    weights = zipf_weights(len(vocab))
    with tempfile.TemporaryDirectory() as tmp:
        base = loopback_settings(Path(tmp) / "data", metrics={"port_base": 0})
        env = {"TFLOW_SWEEP_INTERVAL_SECONDS": "0", "TFLOW_API_WORKERS": "1", "TFLOW_LOG_LEVEL": "WARNING"}
        with running_stack(base, ("projector", "api"), extra_env=env, service_logs=Path(tmp) / "logs") as (s, _, _):
            wait_for_http(f"http://{s.api.host}:{s.api.port}/health", 60)
            t0 = time.monotonic()
            last = asyncio.run(publish(s, args.transcripts, vocab, weights, rng))
            published = time.monotonic() - t0
            asyncio.run(wait_projected(s, last))
            folded = time.monotonic() - t0
            key = s.admin_key_value() or ""
            single = [rng.choices(vocab, weights)[0] for _ in range(200)]
            double = [" ".join(rng.choices(vocab, weights, k=2)) for _ in range(100)]
            with httpx.Client(base_url=f"http://{s.api.host}:{s.api.port}", headers={"X-API-Key": key},
                              timeout=60) as client:
                for _ in range(20):  # warm-up: connection, plans, caches
                    timed(client, "/api/v1/search", {"q": rng.choice(single)})
                    timed(client, "/api/v1/jobs", {"limit": 20})
                base_ms = [timed(client, "/api/v1/jobs", {"limit": 20})[0] for _ in range(300)]
                one, two, matched = [], [], []
                for q in single:
                    ms, doc = timed(client, "/api/v1/search", {"q": q})
                    one.append(ms)
                    matched.append(doc["total"])
                for q in double:
                    two.append(timed(client, "/api/v1/search", {"q": q})[0])
    every = one + two
    figures = {
        "transcripts": args.transcripts, "lines": args.transcripts * LINES, "vocabulary": len(vocab),
        "publish_seconds": round(published, 2), "published_and_folded_seconds": round(folded, 2),
        "search_ms": {"p50": round(percentile(every, 50), 2), "p95": round(percentile(every, 95), 2),
                      "p99": round(percentile(every, 99), 2)},
        "search_one_word_ms": {"p50": round(percentile(one, 50), 2), "p95": round(percentile(one, 95), 2)},
        "search_two_words_ms": {"p50": round(percentile(two, 50), 2), "p95": round(percentile(two, 95), 2)},
        "baseline_list_ms": {"p50": round(percentile(base_ms, 50), 2), "p95": round(percentile(base_ms, 95), 2)},
        "p95_ratio_to_list": round(percentile(every, 95) / percentile(base_ms, 95), 2),
        "jobs_matched_per_word": {"median": statistics.median(matched), "max": max(matched)},
    }
    write_results("search", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
