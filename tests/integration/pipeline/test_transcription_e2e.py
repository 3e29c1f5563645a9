"""Transcription end to end with real speech (LibriVox, public domain) muxed onto a real video."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import jiwer
import m3u8
import pytest
import srt
import webvtt

from contracts import TaskProgress, decode_job_event
from media.run import ffmpeg_binary
from tests.hls_rules import check_hls
from tests.integration.conftest import job_by_key
from tests.media import media

pytestmark = pytest.mark.integration

CLIPS = ["0870", "0880", "0890", "0920", "0930"]
# Standard normalisation (as Whisper's English normaliser does): lower case, punctuation
# and hyphens become spaces ("ill-disposed" = "ill disposed"), titles spelled out.
NORMALISE = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemoveWhiteSpace(replace_by_space=True),
                           jiwer.SubstituteRegexes({r"[-\u2010-\u2014]": " "}),
                           jiwer.RemovePunctuation(), jiwer.SubstituteWords({"mr": "mister", "mrs": "missus"}),
                           jiwer.RemoveMultipleSpaces(), jiwer.Strip(), jiwer.ReduceToListOfListOfWords()])


def reference(clip_ids: list[str]) -> str:
    text = media("speech/librivox.transcription").read_text()
    refs = {m.group(2)[-4:]: m.group(1).strip() for m in re.finditer(r"<s>(.*?)</s>\s*\((\S+)\)", text)}
    return " ".join(refs[c] for c in clip_ids)


def speech_video(tmp: Path, clip_ids: list[str], ffmpeg: str) -> Path:
    """The clips' speech, one after another, on the looped friday video (H.264/AAC MP4)."""
    out = tmp / f"speech-{'-'.join(clip_ids)}.mp4"
    wavs = [str(media(f"speech/sense_and_sensibility_01_austen_64kb-{c}.wav")) for c in clip_ids]
    inputs = [a for w in wavs for a in ("-i", w)]
    graph = "".join(f"[{i + 1}:a]" for i in range(len(wavs))) + f"concat=n={len(wavs)}:v=0:a=1[a]"
    subprocess.run([ffmpeg, "-v", "error", "-y", "-stream_loop", "-1", "-i",
                    str(media("valid/friday_640x480_speech_h264_aac.mp4")), *inputs, "-filter_complex", graph,
                    "-map", "0:v", "-map", "[a]", "-shortest", "-c:v", "libx264", "-preset", "ultrafast",
                    "-c:a", "aac", "-b:a", "128k", str(out)], check=True)
    return out


def get(stack, key: str) -> bytes:
    return stack.client().get_object(stack.settings.s3.bucket, key).read()


async def completed(stack, pool, name: str):
    job = await job_by_key(pool, f"raw/{name}", ("completed", "failed"), timeout=300)
    assert job["status"] == "completed", (job["error_code"], job["error_message"])
    return job


async def test_real_speech_is_transcribed_accurately_in_four_formats(stack, pool, js, tmp_path):
    video = speech_video(tmp_path, CLIPS, ffmpeg_binary(stack.settings.media.ffmpeg))
    stack.drop(video, "speech-librivox.mp4")
    job = await completed(stack, pool, "speech-librivox.mp4")
    base = f"processed/{job['id']}/transcription"
    doc = json.loads(get(stack, f"{base}/transcript.json"))
    hypothesis = get(stack, f"{base}/transcript.txt").decode()
    wer = jiwer.wer(reference(CLIPS), hypothesis, reference_transform=NORMALISE, hypothesis_transform=NORMALISE)
    print(f"WER {wer:.3f} over {len(CLIPS)} LibriVox clips, model {doc['model']}: {hypothesis!r}")
    assert wer <= 0.15
    assert doc["language"] == "en" and doc["language_probability"] > 0.5
    assert (job["transcription_language"], job["whisper_model"]) == ("en", doc["model"])
    assert job["word_count"] == doc["word_count"] > 40
    duration = job["duration_seconds"]
    subs = list(srt.parse(get(stack, f"{base}/transcript.srt").decode()))
    assert subs and all(s.start < s.end for s in subs)
    assert all(a.end <= b.start for a, b in zip(subs, subs[1:], strict=False)) and subs[-1].end.total_seconds() <= duration
    vtt = tmp_path / "t.vtt"
    vtt.write_bytes(get(stack, f"{base}/transcript.vtt"))
    captions = webvtt.read(str(vtt))
    assert len(captions) == len(subs) and captions[-1].end_in_seconds <= duration
    words = [w for s in doc["segments"] for w in s["words"]]
    assert words and all(0 <= w["start"] <= w["end"] and 0 <= w["probability"] <= 1 for w in words)
    assert all("avg_logprob" in s and "no_speech_prob" in s for s in doc["segments"])
    # the multivariant playlist gains the subtitles rendition group
    master = m3u8.loads(get(stack, f"processed/{job['id']}/master.m3u8").decode())
    [subs_media] = master.media
    assert (subs_media.type, subs_media.language, subs_media.group_id) == ("SUBTITLES", "en", "subs")
    assert all(p.stream_info.subtitles == "subs" for p in master.playlists)
    sub_pl = m3u8.loads(get(stack, f"processed/{job['id']}/{subs_media.uri}").decode())
    assert sub_pl.is_endlist and sub_pl.segments[0].uri == "subtitles.vtt"  # the transcript with its TS time map
    hls_vtt = get(stack, f"processed/{job['id']}/subtitles/subtitles.vtt").decode()
    assert hls_vtt.splitlines()[1].startswith("X-TIMESTAMP-MAP=MPEGTS:") and "LOCAL:00:00:00.000" in hls_vtt
    assert check_hls(lambda key: get(stack, key), f"processed/{job['id']}/master.m3u8") == []
    # progress facts were recorded while it ran (the first segment always reports), and the API shows the transcript
    progress = decode_job_event((await js.get_last_msg("JOBS", f"jobs.{job['id']}.task_progress.transcription")).data)
    assert isinstance(progress, TaskProgress) and 0 < progress.percent <= 100
    api = stack.api().get(f"/api/v1/jobs/{job['id']}").json()
    t = api["outputs"]["transcription"]
    assert {t[f]["key"].rsplit("/", 1)[1] for f in ("text", "srt", "vtt", "json")} == \
        {"transcript.txt", "transcript.srt", "transcript.vtt", "transcript.json"}
    assert t["language"] == "en" and t["text"]["word_count"] == t["word_count"] > 0 and t["whisper_model"]


async def test_music_without_speech_gives_empty_transcripts(stack, pool, tmp_path):
    music = tmp_path / "music.webm"
    subprocess.run([ffmpeg_binary(stack.settings.media.ffmpeg), "-v", "error", "-y", "-i",
                    str(media("valid/bbb_1280x720_30s_vp8_vorbis.webm")), "-t", "8", "-c", "copy", str(music)],
                   check=True)
    stack.drop(music, "speech-none.webm")
    job = await completed(stack, pool, "speech-none.webm")
    base = f"processed/{job['id']}/transcription"
    assert job["word_count"] == 0
    assert get(stack, f"{base}/transcript.txt") == b"" and get(stack, f"{base}/transcript.srt") == b""
    assert json.loads(get(stack, f"{base}/transcript.json"))["segments"] == []


async def test_forced_transcription_language_is_honoured(stack, pool, tmp_path):
    video = speech_video(tmp_path, ["0880"], ffmpeg_binary(stack.settings.media.ffmpeg))
    (stack.inbox / "speech-forced.mp4.json").write_text(json.dumps({"transcription_language": "fr"}))
    stack.drop(video, "speech-forced.mp4")
    job = await completed(stack, pool, "speech-forced.mp4")
    doc = json.loads(get(stack, f"processed/{job['id']}/transcription/transcript.json"))
    assert doc["language"] == "fr" and job["transcription_language"] == "fr"
    master = m3u8.loads(get(stack, f"processed/{job['id']}/master.m3u8").decode())
    assert master.media[0].language == "fr"


def test_media_folder_has_the_speech_clips():
    for c in CLIPS:  # media() skips without the media folder and fails for a missing clip
        assert media(f"speech/sense_and_sensibility_01_austen_64kb-{c}.wav").stat().st_size > 10_000
