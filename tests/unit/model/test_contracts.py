import json
import uuid
from datetime import UTC, datetime

import msgspec
import pytest

from contracts import (
    ACCEPTED_EVENTS,
    SCHEMA_VERSION,
    Ingested,
    JobOptions,
    ObjectAnnounced,
    ObjectRef,
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
    announce_subject,
    created_objects,
    decode_announcement,
    decode_job_event,
    decode_s3_notification,
    encode,
    job_id_for,
    msg_id_for,
    subject_for,
)

AT = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
REF = ObjectRef(bucket="videos", key="raw/My clip+1.mp4", etag="abc123", size=42)

# The shape MinIO publishes to NATS (key URL query-escaped, ETag unquoted).
MINIO_NOTE = {
    "EventName": "s3:ObjectCreated:Put",
    "Key": "videos/raw/My+clip%2B1.mp4",
    "Records": [{
        "eventVersion": "2.0", "eventSource": "minio:s3", "awsRegion": "", "eventTime": "2026-11-22T12:00:00.000Z",
        "eventName": "s3:ObjectCreated:Put", "userIdentity": {"principalId": "minioadmin"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"}, "responseElements": {},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "Config",
               "bucket": {"name": "videos", "ownerIdentity": {"principalId": "minioadmin"}, "arn": "arn:aws:s3:::videos"},
               "object": {"key": "raw%2FMy+clip%2B1.mp4", "size": 42, "eTag": "abc123",
                          "contentType": "video/mp4", "userMetadata": {"content-type": "video/mp4"},
                          "sequencer": "17A0"}},
        "source": {"host": "127.0.0.1", "port": "", "userAgent": "MinIO (linux; amd64) minio-py/7.2"},
    }],
}


def test_s3_notification_key_is_url_decoded_with_plus_as_space():
    note = decode_s3_notification(json.dumps(MINIO_NOTE).encode())
    [(name, ref)] = created_objects(note)
    assert name == "s3:ObjectCreated:Put" and name in ACCEPTED_EVENTS
    assert ref == ObjectRef(bucket="videos", key="raw/My clip+1.mp4", etag="abc123", size=42)


@pytest.mark.parametrize("event", ["s3:ObjectCreated:PutTagging", "s3:ObjectCreated:PutRetention",
                                   "s3:ObjectCreated:PutLegalHold", "s3:ObjectRemoved:Delete"])
def test_non_creation_events_are_not_accepted(event):
    note = json.loads(json.dumps(MINIO_NOTE))
    note["Records"][0]["eventName"] = event
    [(name, _)] = created_objects(decode_s3_notification(json.dumps(note).encode()))
    assert name not in ACCEPTED_EVENTS


def test_multipart_and_copy_are_accepted():
    assert {"s3:ObjectCreated:CompleteMultipartUpload", "s3:ObjectCreated:Copy",
            "s3:ObjectCreated:Post"} <= ACCEPTED_EVENTS


def test_bad_notification_raises():
    with pytest.raises(msgspec.DecodeError):
        decode_s3_notification(b"not json")
    with pytest.raises(msgspec.ValidationError):
        decode_s3_notification(b'{"Records": [{"eventName": 3}]}')


def test_job_id_is_uuid5_of_bucket_key_etag_and_ignores_quotes():
    a = job_id_for(REF)
    assert uuid.UUID(a).version == 5
    assert a == job_id_for(ObjectRef(bucket="videos", key="raw/My clip+1.mp4", etag='"abc123"', size=1))
    assert a != job_id_for(ObjectRef(bucket="videos", key="raw/My clip+1.mp4", etag="abc124", size=42))
    assert a != job_id_for(ObjectRef(bucket="videos", key="raw/other.mp4", etag="abc123", size=42))


def _probe() -> Probe:
    return Probe(container="flv", duration_seconds=1.5, size_bytes=42, video=VideoInfo(
        codec="h264", width=1280, height=720, display_width=1280, display_height=720, fps=30.0))


def test_subjects_follow_design():
    assert subject_for(Received(job_id="J", at=AT, source=REF, origin="inbox")) == "jobs.J.received"
    assert subject_for(TaskProgress(job_id="J", at=AT, task="video_360p", percent=5)) == "jobs.J.task_progress.video_360p"
    assert announce_subject("sweep") == "minio.announce.sweep"


def test_msg_ids_dedupe_lifecycle_and_attempts_but_not_progress():
    assert msg_id_for(Rejected(job_id="J", at=AT, source=REF, origin="api", code="c", message="m")) == "J.rejected"
    assert msg_id_for(TaskStarted(job_id="J", at=AT, task="t", attempt=2)) == "J.task_started.t.2"
    assert msg_id_for(TaskFailed(job_id="J", at=AT, task="t", code="c", message="m", attempt=3)) == \
        "J.task_failed.t.3.final"
    assert msg_id_for(TaskFailed(job_id="J", at=AT, task="t", code="c", message="m", attempt=3, permanent=False)) \
        == "J.task_failed.t.3.retry"
    assert msg_id_for(TaskCompleted(job_id="J", at=AT, task="t")) == "J.task_completed.t"
    assert msg_id_for(TaskProgress(job_id="J", at=AT, task="t", percent=1)) is None


@pytest.mark.parametrize("event", [
    Received(job_id="J", at=AT, source=REF, origin="bucket"),
    Ingested(job_id="J", at=AT, source=REF, origin="inbox", probe=_probe(), user_metadata={"a": [1, {"b": None}]},
             options=JobOptions(priority=9), plan=[PlannedTask(name="video_360p", kind="transcode", rendition="360p")]),
    Rejected(job_id="J", at=AT, source=REF, origin="sweep", code="too_short", message="0.3 s"),
    TaskStarted(job_id="J", at=AT, task="t", attempt=1, worker="w"),
    TaskProgress(job_id="J", at=AT, task="t", percent=50.0, speed=2.0, eta_seconds=3.0),
    TaskCompleted(job_id="J", at=AT, task="transcription", result=TranscriptResult(
        language="en", language_probability=0.9, word_count=3, model="base")),
    TaskFailed(job_id="J", at=AT, task="t", code="c", message="m", permanent=False),
])
def test_every_job_event_round_trips_with_type_and_version(event):
    data = encode(event)
    doc = json.loads(data)
    assert doc["type"] == type(event).__struct_config__.tag and doc["v"] == SCHEMA_VERSION
    assert decode_job_event(data) == event


def test_announcement_round_trip_and_unknown_type_rejected():
    a = ObjectAnnounced(object=REF, origin="inbox", at=AT)
    assert decode_announcement(encode(a)) == a
    with pytest.raises(msgspec.ValidationError):
        decode_job_event(b'{"type": "exploded", "v": 1, "job_id": "J", "at": "2026-11-22T12:00:00Z"}')


def test_facts_are_frozen():
    fact = TaskCompleted(job_id="J", at=AT, task="transcription", result=TranscriptResult(
        language="en", language_probability=0.9, word_count=3, model="base"))
    for target, field, value in ((fact, "task", "other"), (fact.result, "word_count", 4),
                                 (_probe().video, "fps", 1.0), (REF, "key", "raw/x")):
        with pytest.raises(AttributeError):
            setattr(target, field, value)
