"""Pure parts of the bucket-event path: which objects a sweep pass checks, the embedded
MinIO's configuration, and the object names the store can take."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from contracts import ObjectRef
from intake.submit import MAX_SEGMENT_BYTES, key_problem
from ops import minio
from services.ingest.sweep import MARGIN, due

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def ref(key: str) -> ObjectRef:
    return ObjectRef(bucket="videos", key=key, etag="e", size=1)


def test_the_first_pass_checks_everything_old_enough_and_later_ones_only_what_changed():
    listing = [(ref("raw/old"), T0 - timedelta(hours=5)), (ref("raw/recent"), T0 - timedelta(seconds=30)),
               (ref("raw/young"), T0 - timedelta(seconds=1)), (ref("raw/undated"), None)]
    cutoff = T0 - timedelta(seconds=2)
    assert [r.key for r in due(listing, None, cutoff)] == ["raw/old", "raw/recent", "raw/undated"]
    # the next pass: only what was modified since the previous cutoff, less the margin
    since = T0 - timedelta(seconds=MARGIN + 31)
    assert [r.key for r in due(listing, since, cutoff)] == ["raw/recent", "raw/undated"]
    # the young object is checked once it is past the grace
    later = T0 + timedelta(seconds=10)
    assert [r.key for r in due(listing, cutoff, later)] == ["raw/recent", "raw/young", "raw/undated"]
    # modified exactly at the margin's edge: still checked
    assert due([(ref("raw/edge"), since - timedelta(seconds=MARGIN))], since, cutoff) == [ref("raw/edge")]


def test_minio_publishes_to_nats_directly_and_listens_on_loopback():
    env = minio.server_env("root", "rootpass", "127.0.0.1:4222", "minio", "pw")
    assert env["MINIO_BROWSER"] == env["MINIO_UPDATE"] == env["MINIO_CALLHOME_ENABLE"] == "off"
    assert env["MINIO_NOTIFY_NATS_SUBJECT_PRIMARY"] == "minio.events"
    assert env["MINIO_NOTIFY_NATS_JETSTREAM_PRIMARY"] == "on"
    assert (env["MINIO_NOTIFY_NATS_USERNAME_PRIMARY"], env["MINIO_NOTIFY_NATS_PASSWORD_PRIMARY"]) == ("minio", "pw")
    assert not any("QUEUE_DIR" in k for k in env)  # a queue directory is re-read only every 3 s
    argv = minio.argv("/bin/minio", "127.0.0.1", 8333, 8334, Path("/d"))
    assert argv == ["/bin/minio", "server", "--quiet", "--address", "127.0.0.1:8333",
                    "--console-address", "127.0.0.1:8334", "/d"]


def test_the_services_policy_covers_objects_of_one_bucket_and_no_bucket_administration():
    policy = minio.service_policy("videos")
    actions = {a for st in policy["Statement"] for a in st["Action"]}
    resources = {r for st in policy["Statement"] for r in st["Resource"]}
    assert {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"} <= actions
    assert not any(a.startswith(("s3:PutBucket", "s3:DeleteBucket", "s3:CreateBucket")) or a == "s3:*"
                   for a in actions)
    assert resources == {"arn:aws:s3:::videos", "arn:aws:s3:::videos/*"}


def test_a_name_the_store_cannot_take_is_refused_with_its_length():
    assert key_problem("raw/" + "n" * (MAX_SEGMENT_BYTES - 4) + ".flv") is None
    problem = key_problem("meta/raw/" + "n" * 251 + ".flv.json")
    assert problem is not None and problem.startswith("name_too_long: 260 bytes")
    assert key_problem("raw/" + "é" * 128) is not None  # bytes of UTF-8, not characters


def test_the_daily_cleanup_runs_at_its_local_time_next():
    from datetime import datetime, timedelta

    from runtime.upkeep import next_daily as next_run
    now = datetime.now().astimezone().replace(hour=1, minute=30, second=0, microsecond=0)
    assert next_run(now, "02:00") == now.replace(hour=2, minute=0)
    assert next_run(now.replace(hour=2, minute=0), "02:00") == now.replace(hour=2, minute=0) + timedelta(days=1)
    assert next_run(now.replace(hour=23), "02:00") == now.replace(hour=2, minute=0) + timedelta(days=1)


def test_old_temp_takes_old_job_dirs_and_spools_but_never_a_live_workers(tmp_path):
    import os
    import time

    from runtime.worker.workdirs import old_temp
    dead, live = tmp_path / "tflow-transcoder-999999-J-a", tmp_path / f"tflow-transcoder-{os.getppid()}-J-b"
    spool, young, other = tmp_path / "tflow-upload-x", tmp_path / "tflow-upload-y", tmp_path / "unrelated"
    for p in (dead, live, spool, young, other):
        p.mkdir()
    two_days = time.time() - 2 * 86400
    for p in (dead, live, spool, other):
        os.utime(p, (two_days, two_days))
    assert old_temp(tmp_path, 24 * 3600) == [dead, spool]
