"""Backup logic without servers (issue 29): the incremental plan, retention, which
snapshot a restore takes, the schedule, a stream state's comparable figures, the smoke
clip's command, and the endpoints a joining worker exports."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from contracts import ObjectRef
from ops.control import endpoint_exports
from ops.recovery import repository as repo
from ops.recovery.schedule import next_backup
from ops.recovery.tools import BackupError
from ops.recovery.verify import comparable
from runtime.settings import environment_variables
from runtime.upkeep import local_clock


def ref(key: str, etag: str, size: int) -> ObjectRef:
    return ObjectRef(bucket="videos", key=key, etag=etag, size=size)


def snap(tmp: Path, sid: str, parts: tuple[str, ...], objects: dict | None = None, at: datetime | None = None):
    path = tmp / repo.SNAPSHOTS / sid
    path.mkdir(parents=True)
    at = at or datetime.strptime(sid[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    (path / repo.MANIFEST).write_text(json.dumps({"parts": list(parts), "started_at": at.isoformat(),
                                                  "finished_at": at.isoformat()}))
    if objects is not None:
        (path / repo.OBJECTS).write_text(json.dumps(objects))
    return repo.Snapshot(sid, path, json.loads((path / repo.MANIFEST).read_text()))


def test_only_new_or_changed_objects_are_copied():
    previous = {"a": {"etag": "1", "size": 5, "sha256": "x"}, "b": {"etag": "2", "size": 6, "sha256": "y"}}
    kept, copy = repo.plan_objects(previous, [ref("a", "1", 5), ref("b", "3", 6), ref("c", "4", 1)])
    assert kept == {"a": previous["a"]} and [r.key for r in copy] == ["b", "c"]
    kept, copy = repo.plan_objects(previous, [ref("a", "1", 7)])  # same ETag, other size: copied
    assert kept == {} and [r.key for r in copy] == ["a"]


def test_retention_keeps_the_newest_full_snapshots_and_the_objects_snapshots_after_them(tmp_path):
    full = repo.PARTS
    s = [snap(tmp_path, "20261201T030000Z", full), snap(tmp_path, "20261201T040000Z", ("objects",)),
         snap(tmp_path, "20261202T030000Z", full), snap(tmp_path, "20261202T040000Z", ("objects",)),
         snap(tmp_path, "20261203T030000Z", full), snap(tmp_path, "20261203T040000Z", ("objects",))]
    assert [x.id for x in repo.expired(s, 2)] == [s[0].id, s[1].id, s[3].id]
    assert [x.id for x in repo.expired(s, 5)] == [s[1].id, s[3].id]
    objects_only = [x for x in s if not x.full]
    assert [x.id for x in repo.expired(objects_only, 2)] == [s[1].id]  # no full one: the newest N


def test_a_restore_takes_the_full_snapshot_and_the_newest_objects_after_it(tmp_path):
    snap(tmp_path, "20261201T030000Z", repo.PARTS)
    snap(tmp_path, "20261201T040000Z", ("objects",))
    snap(tmp_path, "20261202T030000Z", repo.PARTS)
    snap(tmp_path, "20261202T040000Z", ("objects",))
    (tmp_path / repo.SNAPSHOTS / f"{repo.PARTIAL}20261202T050000Z").mkdir()  # a crash's leftover is no snapshot
    full, objects = repo.chosen(tmp_path)
    assert (full.id, objects.id) == ("20261202T030000Z", "20261202T040000Z")
    full, objects = repo.chosen(tmp_path, "20261201T030000Z")
    assert (full.id, objects.id) == ("20261201T030000Z", "20261202T040000Z")
    with pytest.raises(BackupError, match="no snapshot '2020'"):
        repo.chosen(tmp_path, "2020")
    with pytest.raises(BackupError, match="no full snapshot"):
        repo.chosen(tmp_path / "empty")


def test_ids_sort_by_time_and_never_repeat(tmp_path):
    at = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
    first = repo.new_id(tmp_path, at)
    (tmp_path / repo.SNAPSHOTS / first).mkdir(parents=True)
    assert (first, repo.new_id(tmp_path, at)) == ("20261207T030000Z", "20261207T030000Z-1")


def test_the_schedule_takes_a_full_snapshot_daily_and_objects_in_between(tmp_path):
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    assert next_backup(now, [], "03:00", 60) == (now, repo.PARTS)  # nothing yet: everything now
    base = now.astimezone().replace(hour=3, minute=0)
    full = snap(tmp_path, "a", repo.PARTS, at=base)
    objects = snap(tmp_path, "b", ("objects",), at=now - timedelta(minutes=20))
    assert next_backup(now, [full, objects], "03:00", 60) == (now + timedelta(minutes=40), ("objects",))
    late = snap(tmp_path, "c", ("objects",), at=base + timedelta(hours=23, minutes=30))
    assert next_backup(now, [full, late], "03:00", 60) == (base + timedelta(days=1), repo.PARTS)
    down_for_days = snap(tmp_path, "d", repo.PARTS, at=base - timedelta(days=3))
    due, parts = next_backup(now, [down_for_days], "03:00", 60)
    assert due < now and parts == repo.PARTS  # overdue: at once


def test_an_empty_streams_first_sequence_is_not_compared():
    assert comparable({"messages": 0, "bytes": 0, "first_seq": 0, "last_seq": 0, "consumer_count": 5}) == \
        comparable({"messages": 0, "bytes": 0, "first_seq": 1, "last_seq": 0, "consumer_count": 5})
    assert comparable({"messages": 3, "first_seq": 2}) != comparable({"messages": 3, "first_seq": 1})


def test_the_backup_clock_is_checked():
    assert local_clock(" 03:30 ", "TFLOW_BACKUP_AT") == "03:30"
    with pytest.raises(ValueError, match="TFLOW_BACKUP_AT is a local time"):
        local_clock("25:00", "TFLOW_BACKUP_AT")


def test_the_smoke_clip_is_a_short_h264_aac_faststart_mp4(tmp_path):
    from media.synthetic import test_clip_command

    argv = test_clip_command("ffmpeg", tmp_path / "c.mp4", 5.0)
    joined = " ".join(argv)
    assert argv[0] == "ffmpeg" and argv[-1] == str(tmp_path / "c.mp4")
    assert "testsrc2=size=640x360:rate=25" in joined and "-t 5.0" in joined and "libx264" in joined
    assert "+faststart" in joined and "aac" in joined


def test_a_joining_worker_gets_every_endpoint_as_a_setting(tmp_path):
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "endpoints.json").write_text(json.dumps(
        {"nats_url": "nats://127.0.0.1:4222", "nats_user": "admin", "nats_password": "p w'd",
         "database_url": "postgresql://x@/tflow?host=/s", "s3_endpoint": "127.0.0.1:9000", "s3_access_key": "a",
         "s3_secret_key": "b"}))
    lines = endpoint_exports(tmp_path)
    names = [line.split("=", 1)[0].removeprefix("export ") for line in lines]
    assert set(names) <= set(environment_variables()) and len(names) == 7
    assert "export TFLOW_NATS_PASSWORD='p w'\"'\"'d'" in lines
