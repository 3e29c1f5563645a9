"""Priority bands and partitions: subjects, how definitions split into consumers, the
order bands are taken in (aging), and who may publish or pull what. No servers."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from contracts import (
    NATS_DEFINITIONS,
    Ingested,
    JobOptions,
    ObjectRef,
    Probe,
    Replayed,
    TaskCompleted,
    TaskFailed,
    VideoInfo,
    band,
    band_priority,
    fact_filter,
    fact_subject,
    job_of_subject,
    layout,
    subject_for,
)
from media.ladder import LADDER
from ops import natsauth
from runtime.jetstream.bands import Head, effective, take_order
from runtime.jetstream.definitions import consumer_group, consumer_groups, load_consumer_configs, load_stream_configs
from runtime.worker.facts import MemoryFacts

AT = datetime(2026, 12, 1, tzinfo=UTC)
REF = ObjectRef(bucket="videos", key="raw/a.mp4", etag="e", size=1)
PROBE = Probe(container="mov,mp4,m4a,3gp,3g2,mj2", duration_seconds=10.0, size_bytes=1,
              video=VideoInfo(codec="h264", width=640, height=360, display_width=640, display_height=360, fps=25.0))


def ingested_fact(priority: int = 5) -> Ingested:
    return Ingested(job_id="J1", at=AT, source=REF, origin="inbox", probe=PROBE, options=JobOptions(priority=priority))


def test_work_facts_carry_their_band_and_others_do_not():
    ing = ingested_fact(priority=9)
    assert subject_for(ing) == f"jobs.{ing.job_id}.ingested.p09"
    replay = Replayed(job_id="J", at=AT, epoch=2, tasks=["thumbnails"], epochs={"thumbnails": 2},
                      options=JobOptions(priority=1))
    assert subject_for(replay) == "jobs.J.replayed.p01"
    assert subject_for(TaskCompleted(job_id="J", at=AT, task="video_360p", priority=10)) == \
        "jobs.J.task_completed.video_360p.p10"
    assert subject_for(TaskFailed(job_id="J", at=AT, task="video_360p", code="x", message="m")) == \
        "jobs.J.task_failed.video_360p"
    assert fact_filter("J", "task_completed", "video_360p") == "jobs.J.task_completed.video_360p.*"
    assert fact_filter("J", "task_failed", "video_360p") == "jobs.J.task_failed.video_360p"
    with pytest.raises(ValueError, match="priority"):
        fact_subject("J", "ingested")
    with pytest.raises(ValueError, match="from 1 to 10"):
        band(11)
    assert [band_priority(t) for t in ("p01", "p10", "p11", "p5", "x07")] == [1, 10, None, None, None]


def test_job_of_subject_reads_job_and_finalize_subjects():
    assert job_of_subject("jobs.J.ingested.p05") == "J"
    assert job_of_subject("finalize.3.J.task_completed.video_360p.p05") == "J"
    assert job_of_subject("minio.events") is None and job_of_subject("finalize.3") is None


async def test_memory_facts_read_back_any_band_as_jetstream_does():
    facts = MemoryFacts()
    ing = ingested_fact(priority=2)
    await facts.publish(ing)
    assert await facts.last(ing.job_id, "ingested") == ing
    await facts.publish(TaskCompleted(job_id=ing.job_id, at=ing.at, task="video_360p", priority=2))
    done = await facts.last(ing.job_id, "task_completed", "video_360p")
    assert isinstance(done, TaskCompleted) and done.priority == 2


def test_banded_definitions_split_into_one_consumer_per_priority_highest_first():
    group = consumer_group("JOBS", "transcoder")
    assert group.split == "priority"
    assert group.names == [f"transcoder_p{p:02d}" for p in range(10, 0, -1)]
    p7 = dict(group.members)[7]
    assert p7.filter_subjects == ["jobs.*.ingested.p07", "jobs.*.replayed.p07"]
    assert p7.metadata == {"tflow_split": "priority", "tflow_group": "transcoder", "tflow_priority": "7"}
    assert p7.max_ack_pending == group.base.max_ack_pending and p7.ack_wait == group.base.ack_wait
    thumbnailer = consumer_group("JOBS", "thumbnailer")
    assert all(f.endswith(".p10") for f in dict(thumbnailer.members)[10].filter_subjects or [])
    # every task-taking worker is banded: none consumes in arrival order any more
    assert {g.durable for g in consumer_groups() if g.split == "priority"} == {
        "transcoder", "thumbnailer", "transcriber"}


def test_the_finalizer_is_partitioned_as_its_stream_derives_the_partitions():
    group = consumer_group("FINALIZE", "finalizer")
    assert group.split == "partition" and group.names == [f"finalizer_{k}" for k in range(8)]
    assert all(c.max_ack_pending == 1 for _, c in group.members)  # one job's facts in order
    assert dict(group.members)[3].filter_subjects == ["finalize.3.>"]
    stream = next(s for s in load_stream_configs() if s.name == "FINALIZE")
    dests = [t.dest for src in stream.sources or [] for t in src.subject_transforms or []]
    assert dests and all(f"{{{{partition({len(group.members)},1)}}}}" in d for d in dests)
    # completions, failures, replays, and the progress of every HLS task of the ladder
    # (NATS wildcards are whole tokens: one transform per rendition)
    srcs = {t.src for src in stream.sources or [] for t in src.subject_transforms or []}
    assert srcs == {"jobs.*.task_completed.>", "jobs.*.task_failed.>", "jobs.*.replayed.*",
                    *(f"jobs.*.task_progress.{layout.hls_task(r)}" for r in LADDER)}


def test_dead_letter_consumers_follow_every_member_of_a_split_group():
    dead = dict((c.durable_name, c) for s, c in load_consumer_configs() if s == "DLQ")
    subjects = dead["dead_transcoder"].filter_subjects or []
    assert len(subjects) == 20 and "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.JOBS.transcoder_p10" in subjects
    assert "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.FINALIZE.finalizer_7" in (
        dead["dead_finalizer"].filter_subjects or [])
    assert dead["dead_ingest"].filter_subjects == ["$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.MINIO.ingest",
                                                   "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.MINIO.ingest"]


def test_a_split_needs_a_wildcard_where_it_goes(tmp_path):
    (tmp_path / "streams").mkdir()
    (tmp_path / "consumers" / "JOBS").mkdir(parents=True)
    (tmp_path / "consumers" / "JOBS" / "x.json").write_text(json.dumps({
        "durable_name": "x", "filter_subjects": ["jobs.*.ingested"], "metadata": {"tflow_split": "priority"}}))
    with pytest.raises(ValueError, match="must be '\\*'"):
        consumer_groups(tmp_path)  # type: ignore[arg-type]
    (tmp_path / "consumers" / "JOBS" / "x.json").write_text(json.dumps({
        "durable_name": "x", "filter_subject": "x.>", "metadata": {"tflow_split": "round-robin"}}))
    with pytest.raises(ValueError, match="unknown tflow_split"):
        consumer_groups(tmp_path)  # type: ignore[arg-type]


def _heads(*specs: tuple[int, int | None, float, bool]) -> list[Head]:
    return [Head(p, f"w_p{p:02d}", seq, age, flying) for p, seq, age, flying in specs]


def test_bands_are_taken_highest_first_and_aged_ones_catch_up():
    heads = _heads((1, 5, 10.0, False), (10, 9, 0.5, False), (5, 7, 3.0, False), (8, None, 0.0, True),
                   (3, None, 0.0, False))
    assert take_order(heads, aging=0) == ["w_p10", "w_p05", "w_p01", "w_p08"]  # empty band 3 not tried
    # aged 60 s a step: priority 1 waiting 540 s competes as 10, and its older head goes first
    aged = _heads((1, 5, 540.0, False), (10, 9, 0.5, False), (5, 7, 100.0, False))
    assert [effective(h, 60) for h in aged] == [10, 10, 6]
    assert take_order(aged, aging=60) == ["w_p01", "w_p10", "w_p05"]
    assert take_order(_heads((1, 5, 10**6, False), (9, 6, 0.0, False)), aging=60) == ["w_p01", "w_p09"]
    assert take_order([], aging=60) == []


def test_roles_publish_banded_work_and_pull_only_their_bands():
    perms = {name: natsauth.permissions(role, name) for name, role in natsauth.ROLES.items()}
    pub = {name: p["publish"]["allow"] for name, p in perms.items()}
    assert "jobs.*.ingested.*" in pub["ingest"] and "jobs.*.replayed.*" in pub["api"]
    assert "jobs.*.task_completed.video_360p.*" in pub["transcoder"]
    assert "jobs.*.task_completed.video_360p.*" not in pub["thumbnailer"]
    assert "$JS.API.CONSUMER.MSG.NEXT.JOBS.transcoder_p10" in pub["transcoder"]
    assert not [s for s in pub["transcoder"] if re.search(r"\.(finalizer|finalizer)", s)]
    assert "$JS.API.CONSUMER.MSG.NEXT.FINALIZE.finalizer_0" in pub["finalizer"]
    # an idle banded worker is woken by its own work subjects only
    assert set(perms["transcoder"]["subscribe"]["allow"]) == {
        "_INBOX_transcoder.>", "jobs.*.cancelled", "jobs.*.ingested.*", "jobs.*.replayed.*"}


def test_the_shipped_definitions_are_what_the_package_lists():
    files = sorted(p.name for d in (NATS_DEFINITIONS / "consumers").iterdir() for p in d.iterdir())
    assert "finalizer.json" in files
    assert len(load_consumer_configs()) == 3 * 10 + 8 + 1 + 5  # 3 banded, the finalizer's partitions, ingest, DLQ


def test_worker_concurrency_auto_is_one_task_per_two_cores(monkeypatch):
    from runtime.settings import WorkerSettings
    from runtime.worker.runner import tasks_at_once

    auto = WorkerSettings(_env_file=None)
    assert auto.concurrency == "auto"
    assert [tasks_at_once(auto, n) for n in (1, 2, 3, 8, 64)] == [1, 1, 1, 4, 32]
    monkeypatch.setenv("TFLOW_WORKER_CONCURRENCY", "3")
    assert tasks_at_once(WorkerSettings(_env_file=None), 2) == 3
    for bad in ("0", "65", "many"):
        monkeypatch.setenv("TFLOW_WORKER_CONCURRENCY", bad)
        with pytest.raises(ValueError):
            WorkerSettings(_env_file=None)
