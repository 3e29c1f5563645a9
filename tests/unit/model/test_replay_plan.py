"""Replay planning (pure): which tasks a replay re-runs and the epochs it sets."""

from __future__ import annotations

import pytest

from contracts import Ingested, JobOptions, ObjectRef, PlannedTask, Probe, TaskCompleted, VideoInfo, msg_id_for, utcnow
from runtime.worker.replay import ReplayRefused, plan_replay, replay_tasks

PLAN = [PlannedTask(name="video_360p", kind="transcode", rendition="360p"),
        PlannedTask(name="hls_360p", kind="package", rendition="360p"),
        PlannedTask(name="video_720p", kind="transcode", rendition="720p"),
        PlannedTask(name="hls_720p", kind="package", rendition="720p"),
        PlannedTask(name="thumbnails", kind="thumbnails"),
        PlannedTask(name="audio_mp3", kind="audio"),
        PlannedTask(name="transcription", kind="transcription"),
        PlannedTask(name="metadata", kind="metadata")]


def job() -> Ingested:
    probe = Probe(container="flv", duration_seconds=1.0, size_bytes=1,
                  video=VideoInfo(codec="h264", width=1280, height=720, display_width=1280, display_height=720, fps=25))
    return Ingested(job_id="J", at=utcnow(), source=ObjectRef(bucket="b", key="raw/x", etag="e", size=1),
                    origin="api", probe=probe, plan=PLAN, options=JobOptions(whisper_model="base"))


def test_dependents_and_inputs_come_along():
    assert replay_tasks(PLAN, None) == [t.name for t in PLAN]
    assert replay_tasks(PLAN, ["transcription"]) == ["transcription", "metadata"]
    assert replay_tasks(PLAN, ["hls_720p"]) == ["video_720p", "hls_720p", "metadata"]
    assert replay_tasks(PLAN, ["video_360p"]) == ["video_360p", "hls_360p", "metadata"]
    with pytest.raises(ReplayRefused, match="no task captions"):
        replay_tasks(PLAN, ["captions"])


def test_epochs_accumulate_and_options_carry_over():
    first = plan_replay(job(), None, ["transcription"], {"transcription_language": "en"}, "r", "cli")
    assert first.epoch == 2 and first.epochs == {"transcription": 2, "metadata": 2}
    assert first.options.whisper_model == "base" and first.options.transcription_language == "en"
    second = plan_replay(job(), first, ["thumbnails"], {}, "r", "cli")
    assert second.epoch == 3 and second.epochs == {"transcription": 2, "thumbnails": 3, "metadata": 3}
    assert second.required("transcription") == 2 and second.required("video_360p") == 1
    assert second.options.transcription_language == "en"  # kept from the first replay
    with pytest.raises(ReplayRefused, match="invalid options"):
        plan_replay(job(), None, None, {"priority": "high"}, "r", None)


def test_message_ids_name_the_epoch_from_2_on():
    done = TaskCompleted(job_id="J", at=utcnow(), task="thumbnails")
    assert msg_id_for(done) == "J.task_completed.thumbnails"  # as before replays existed
    assert msg_id_for(TaskCompleted(job_id="J", at=utcnow(), task="thumbnails", epoch=3)) == \
        "J.task_completed.thumbnails.e3"
    assert msg_id_for(plan_replay(job(), None, None, {}, "r", None)) == "J.replayed.2"


async def test_a_deleted_or_cancelled_job_is_not_replayed():
    from contracts import Cancelled, Deleted
    from runtime.worker.facts import MemoryFacts
    from runtime.worker.replay import request_replay

    for end in (Deleted(job_id="J", at=utcnow(), files_deleted=True), Cancelled(job_id="J", at=utcnow())):
        facts = MemoryFacts()
        await facts.publish(job())
        await facts.publish(end)
        with pytest.raises(ReplayRefused, match=f"was {type(end).__name__.lower()}"):
            await request_replay(facts, "J", ["transcription"])
