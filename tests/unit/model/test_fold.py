from datetime import UTC, datetime, timedelta

import msgspec

from contracts import (
    Cancelled,
    Deleted,
    Ingested,
    ObjectRef,
    OutputInfo,
    PlannedTask,
    Probe,
    Received,
    Rejected,
    TaskCompleted,
    TaskFailed,
    TaskProgress,
    TaskStarted,
    TranscriptResult,
    VideoInfo,
    decode_job_event,
    encode,
)
from readmodel.rows import JobState
from services.projector.fold import apply

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
REF = ObjectRef(bucket="videos", key="raw/a.mp4", etag="e", size=100)
PLAN = [PlannedTask(name="video_360p", kind="transcode", rendition="360p"),
        PlannedTask(name="transcription", kind="transcription")]
PROBE = Probe(container="mov,mp4,m4a,3gp,3g2,mj2", duration_seconds=6.0, size_bytes=100,
              video=VideoInfo(codec="h264", width=640, height=480, display_width=640, display_height=480, fps=30.0))


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def fold(events):
    state = None
    for seq, e in enumerate(events, 1):
        state = apply(state, e, seq)
    return state


def ingested(plan=PLAN):
    return [Received(job_id="J", at=at(0), source=REF, origin="inbox"),
            Ingested(job_id="J", at=at(1), source=REF, origin="inbox", probe=PROBE, plan=plan,
                     user_metadata={"k": "v"})]


def test_received_then_ingested_is_pending_with_planned_tasks():
    s = fold(ingested())
    assert s.job.status == "pending" and s.job.width == 640 and s.job.user_metadata == {"k": "v"}
    assert s.job.created_at == at(0) and s.job.updated_at == at(1) and s.job.last_seq == 2
    assert {n: t.status for n, t in s.tasks.items()} == {"video_360p": "pending", "transcription": "pending"}


def test_a_tenants_job_is_its_own_from_the_first_fact_and_a_deleted_job_stays_deleted():
    owner = "6b0f2c1e-9d2a-4c1b-8f37-3c0e5a1d9b42"
    mine = ObjectRef(bucket="videos", key=f"raw/tenants/{owner}/a.mp4", etag="e", size=100)
    s = fold([Received(job_id="J", at=at(0), source=mine, origin="api"),
              Rejected(job_id="J", at=at(1), source=mine, origin="api", code="too_short", message="0.3 s")])
    assert s.job.api_key_id == owner  # its submitter sees why it was rejected
    forged = ObjectRef(bucket="videos", key="raw/tenants/not-a-key/a.mp4", etag="e", size=100)
    assert fold([Received(job_id="K", at=at(0), source=forged, origin="bucket")]).job.api_key_id is None
    s = fold([*ingested(), Deleted(job_id="J", at=at(2), files_deleted=True),
              Cancelled(job_id="J", at=at(3), reason="late")])
    assert s.job.status == "deleted" and s.job.completed_at == at(2) and s.job.error_code is None
    assert {t.status for t in s.tasks.values()} == {"cancelled"}


def test_rejected_fails_the_job_with_the_reason():
    s = fold([Received(job_id="J", at=at(0), source=REF, origin="bucket"),
              Rejected(job_id="J", at=at(1), source=REF, origin="bucket", code="too_short", message="0.3 s")])
    assert (s.job.status, s.job.error_code, s.job.error_message, s.job.completed_at) == \
        ("failed", "too_short", "0.3 s", at(1))


def test_tasks_drive_progress_and_completion():
    s = fold([*ingested(),
              TaskStarted(job_id="J", at=at(2), task="video_360p"),
              TaskProgress(job_id="J", at=at(3), task="video_360p", percent=50, speed=2.0, eta_seconds=1.5)])
    assert s.job.status == "processing" and s.job.started_at == at(2)
    assert s.job.progress_percent == 25.0 and s.job.current_task == "video_360p"
    assert s.tasks["video_360p"].eta_seconds == 1.5
    s = apply(s, TaskCompleted(job_id="J", at=at(4), task="video_360p",
                               outputs=[OutputInfo(key="processed/J/360p/video_360p.mp4", size_bytes=10, kind="mp4")]),
              5)
    assert s.job.status == "processing" and s.job.progress_percent == 50.0
    assert s.job.outputs["video_360p"][0]["key"].endswith("video_360p.mp4")
    s = apply(s, TaskCompleted(job_id="J", at=at(5), task="transcription",
                               result=TranscriptResult(language="en", language_probability=0.99, word_count=12,
                                                       model="base")), 6)
    assert (s.job.status, s.job.progress_percent, s.job.completed_at) == ("completed", 100.0, at(5))
    assert (s.job.transcription_language, s.job.word_count, s.job.whisper_model) == ("en", 12, "base")


def test_retryable_failure_keeps_job_running_permanent_fails_it():
    s = fold([*ingested(), TaskStarted(job_id="J", at=at(2), task="video_360p"),
              TaskFailed(job_id="J", at=at(3), task="video_360p", code="io", message="store down", permanent=False)])
    assert s.job.status == "processing" and s.tasks["video_360p"].status == "pending"
    s = apply(s, TaskFailed(job_id="J", at=at(4), task="video_360p", code="ffmpeg", message="exit 1", attempt=2), 6)
    assert s.job.status == "failed" and s.job.error_message == "task video_360p failed: exit 1"
    # a late completion of another task does not revive the job
    s = apply(s, TaskCompleted(job_id="J", at=at(5), task="transcription"), 7)
    assert s.job.status == "failed" and s.tasks["transcription"].status == "completed"


def test_task_fact_for_unknown_job_is_dropped_and_no_plan_completes():
    assert apply(None, TaskStarted(job_id="X", at=at(0), task="t"), 1) is None
    assert fold(ingested(plan=[])).job.status == "completed"


def _lifecycle():
    return [*ingested(), TaskStarted(job_id="J", at=at(2), task="video_360p", attempt=1, worker="w"),
            TaskProgress(job_id="J", at=at(3), task="video_360p", percent=40, speed=1.2, eta_seconds=3),
            TaskFailed(job_id="J", at=at(4), task="transcription", code="io", message="m", permanent=False),
            TaskCompleted(job_id="J", at=at(5), task="video_360p", seconds=3.0,
                          outputs=[OutputInfo(key="processed/J/360p/video_360p.mp4", size_bytes=10, kind="mp4")]),
            TaskCompleted(job_id="J", at=at(6), task="transcription", result=TranscriptResult(
                language="en", language_probability=0.9, word_count=4, model="base"))]


def test_fold_resumed_from_stored_rows_equals_one_replay_from_the_stream():
    """What the live projector does (fold a batch, store the rows, load them back, fold
    the next batch) gives the rows a rebuild gives (decode every fact, fold once), for
    every batch boundary; and every time in the rows is a fact's own time."""
    events = _lifecycle()
    replay = fold([decode_job_event(encode(e)) for e in events])
    for cut in range(1, len(events)):
        stored = msgspec.convert(msgspec.to_builtins(fold(events[:cut])), JobState)  # what Postgres hands back
        for seq, e in enumerate(events[cut:], cut + 1):
            stored = apply(stored, e, seq)
        assert stored == replay, f"batch boundary after fact {cut}"
    assert replay.job.status == "completed" and replay.job.word_count == 4
    times = {e.at for e in events}
    stamps = [replay.job.created_at, replay.job.updated_at, replay.job.started_at, replay.job.completed_at,
              *(t for task in replay.tasks.values() for t in (task.started_at, task.completed_at, task.updated_at))]
    assert {t for t in stamps if t is not None} <= times


def test_optional_task_failure_does_not_fail_the_job():
    plan = [PlannedTask(name="video_360p", kind="transcode", rendition="360p"),
            PlannedTask(name="thumbnail_custom", kind="thumbnails", optional=True)]
    s = fold([*ingested(plan), TaskFailed(job_id="J", at=at(2), task="thumbnail_custom", code="invalid_thumbnail",
                                          message="not an image")])
    assert s.job.status == "pending" and s.tasks["thumbnail_custom"].status == "failed"
    s = apply(s, TaskCompleted(job_id="J", at=at(3), task="video_360p"), 4)
    assert s.job.status == "completed"


def test_cancel_ends_the_job_and_its_unfinished_tasks_and_nothing_revives_it():
    from contracts import Cancelled

    s = fold([*ingested(), TaskStarted(job_id="J", at=at(2), task="video_360p"),
              Cancelled(job_id="J", at=at(3), reason="user")])
    assert (s.job.status, s.job.completed_at, s.job.error_code) == ("cancelled", at(3), "cancelled")
    assert {t.status for t in s.tasks.values()} == {"cancelled"}
    s = apply(s, TaskProgress(job_id="J", at=at(4), task="video_360p", percent=80), 9)
    s = apply(s, TaskCompleted(job_id="J", at=at(5), task="video_360p"), 10)
    assert s.job.status == "cancelled" and s.tasks["video_360p"].status == "cancelled"
    done = fold([*ingested(plan=[]), Cancelled(job_id="J", at=at(3))])
    assert done.job.status == "completed"  # terminal jobs are not cancelled


def test_job_count_deltas_follow_status_and_owner_changes():
    from readmodel.projection import NO_KEY, count_deltas

    s = fold(ingested())  # status pending, no key
    assert count_deltas({}, [s]) == {(NO_KEY, "pending"): 1}
    assert count_deltas({"J": ("pending", None)}, [s]) == {}
    s = apply(s, Rejected(job_id="J", at=at(3), source=REF, origin="inbox", code="c", message="m"), 3)
    assert count_deltas({"J": ("pending", None)}, [s]) == {(NO_KEY, "pending"): -1, (NO_KEY, "failed"): 1}


def test_a_replay_reopens_the_job_and_facts_of_the_replaced_run_are_ignored():
    from contracts import Replayed

    done = [*ingested(), *(TaskCompleted(job_id="J", at=at(2 + i), task=t.name) for i, t in enumerate(PLAN))]
    assert fold(done).job.status == "completed"
    replay = Replayed(job_id="J", at=at(10), epoch=2, tasks=["transcription"], epochs={"transcription": 2})
    s = fold([*done, replay])
    assert (s.job.status, s.job.epoch, s.job.completed_at) == ("pending", 2, None)
    assert (s.tasks["transcription"].status, s.tasks["transcription"].epoch) == ("pending", 2)
    assert (s.tasks["video_360p"].status, s.tasks["video_360p"].epoch) == ("completed", 1)
    late = TaskFailed(job_id="J", at=at(11), task="transcription", code="x", message="old run", permanent=True)
    s = fold([*done, replay, late])  # a failure of epoch 1 arriving late changes nothing
    assert s.job.status == "pending" and s.tasks["transcription"].error_code is None
    s = fold([*done, replay, late, TaskCompleted(job_id="J", at=at(12), task="transcription", epoch=2)])
    assert (s.job.status, s.tasks["transcription"].status) == ("completed", "completed")


def test_a_retry_announced_after_the_tasks_work_landed_leaves_no_error_on_it():
    """A NATS stall: the attempt's completion was stored but not confirmed, so the attempt
    also announced a retry; the completed task shows no stale error (issue 28)."""
    out = OutputInfo(key="hls/J/360p/playlist.m3u8", size_bytes=10, kind="hls_playlist")
    s = fold(ingested() + [
        TaskStarted(job_id="J", at=at(2), task="video_360p", attempt=1),
        TaskCompleted(job_id="J", at=at(3), task="video_360p", outputs=[out], seconds=1.0),
        TaskFailed(job_id="J", at=at(4), task="video_360p", code="TimeoutError", message="Nats: timeout.",
                   permanent=False, attempt=1, retry_in_seconds=2.0)])
    task = s.tasks["video_360p"]
    assert task.status == "completed" and task.error_code is None and task.error_message is None
    assert s.job.error_code is None
