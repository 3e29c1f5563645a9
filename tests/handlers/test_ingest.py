"""The ingest handler on `Facts` (in memory and on real JetStream) and a folder store:
announcements and MinIO notifications become `received` + `ingested` (real probe, plan)
or `rejected` with the reason; known objects are skipped; sidecars are honoured or
rejected; the last delivery of a message rejects its objects."""

from __future__ import annotations

import json
from urllib.parse import quote_plus

import pytest

from contracts import (
    Ingested,
    ObjectAnnounced,
    ObjectRef,
    Received,
    Rejected,
    announce_subject,
    encode,
    job_id_for,
    layout,
    utcnow,
)
from runtime.jetstream.delivery import Delivery
from runtime.jetstream.retry import Permanent
from services.ingest.handler import Ingest
from tests.handlers.conftest import BUCKET, put_source
from tests.media import media


def announced(ref, origin="inbox") -> Delivery:
    return Delivery(subject=announce_subject(origin), data=encode(ObjectAnnounced(object=ref, origin=origin,
                                                                                  at=utcnow())))


async def test_an_announced_clip_is_received_then_ingested_with_probe_and_plan(facts, objects, settings):
    ref = put_source(objects, media("valid/mpeg4asp_960x400_mp3.avi"))
    await Ingest(settings, facts, objects).handle(announced(ref))
    job = job_id_for(ref)
    assert isinstance(await facts.last(job, "received"), Received)
    fact = await facts.last(job, "ingested")
    assert isinstance(fact, Ingested) and fact.source == ref and fact.origin == "inbox"
    assert (fact.probe.container, fact.probe.video.codec, fact.probe.audio.codec) == ("avi", "mpeg4", "mp3float")  # FFmpeg decoder names
    assert [t.name for t in fact.plan] == ["video_360p", "hls_360p", "thumbnails", "audio_mp3", "metadata"]


@pytest.mark.parametrize("content,code", [(b"", "empty_file"), (b"this is text, not video\n" * 40, "unreadable")])
async def test_bad_content_is_rejected_with_its_reason_and_kept(facts, objects, settings, tmp_path, content, code):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    ref = put_source(objects, bad)
    await Ingest(settings, facts, objects).handle(announced(ref))
    fact = await facts.last(job_id_for(ref), "rejected")
    assert isinstance(fact, Rejected) and fact.code == code
    assert objects.path(BUCKET, ref.key).read_bytes() == content  # the original is kept
    assert await facts.last(job_id_for(ref), "ingested") is None


async def test_a_too_small_clip_is_rejected_by_the_prd_minimum(facts, objects, settings):
    ref = put_source(objects, media("bad/vp6_112x80_too_small.flv"))
    await Ingest(settings, facts, objects).handle(announced(ref, "sweep"))
    fact = await facts.last(job_id_for(ref), "rejected")
    assert isinstance(fact, Rejected) and fact.code == "resolution_too_low" and fact.origin == "sweep"


async def test_a_minio_notification_with_an_encoded_key_becomes_a_bucket_job(facts, objects, settings):
    ref = put_source(objects, media("valid/h264_1080x720_aac.flv"))
    named = layout.raw_keys("My clip+1.flv", "x")[0]
    objects.path(BUCKET, ref.key).rename(objects.path(BUCKET, named))
    note = {"EventName": "s3:ObjectCreated:Put", "Key": f"{BUCKET}/{named}", "Records": [{
        "eventName": "s3:ObjectCreated:Put",
        "s3": {"bucket": {"name": BUCKET}, "object": {"key": quote_plus(named), "size": ref.size, "eTag": ref.etag}}}]}
    ignored = {"Records": [{"eventName": "s3:ObjectCreated:PutTagging",
                            "s3": {"bucket": {"name": BUCKET}, "object": {"key": quote_plus(named), "eTag": "t"}}}]}
    handler = Ingest(settings, facts, objects)
    await handler.handle(Delivery(subject="minio.events", data=json.dumps(ignored).encode()))
    await handler.handle(Delivery(subject="minio.events", data=json.dumps(note).encode()))
    fact = await facts.last(job_id_for(ObjectRef(bucket=BUCKET, key=named, etag=ref.etag, size=ref.size)), "ingested")
    assert isinstance(fact, Ingested) and fact.origin == "bucket" and fact.source.key == named
    tagged = job_id_for(ObjectRef(bucket=BUCKET, key=named, etag="t", size=0))
    assert await facts.last(tagged, "received") is None  # the tagging event made no job


async def test_a_known_object_is_skipped(facts, objects, settings):
    ref = put_source(objects, media("valid/h264_1080x720_aac.flv"))
    handler = Ingest(settings, facts, objects)
    await handler.handle(announced(ref))
    objects.path(BUCKET, ref.key).unlink()  # were it examined again, it would be `source_missing`
    await handler.handle(announced(ref, "sweep"))
    assert await facts.last(job_id_for(ref), "rejected") is None
    assert isinstance(await facts.last(job_id_for(ref), "ingested"), Ingested)


async def test_the_sidecar_sets_options_and_a_broken_one_rejects(facts, objects, settings):
    good = put_source(objects, media("valid/h264_1080x720_aac.flv"))
    sidecar = objects.path(BUCKET, layout.meta_key(good.key))
    sidecar.parent.mkdir(parents=True, exist_ok=True)
    sidecar.write_text(json.dumps({"user_metadata": {"course": "physics"},
                                   "options": {"priority": 9, "transcription_language": "en"}}))
    bad = put_source(objects, media("valid/h264_1080x720_aac.flv"))
    objects.path(BUCKET, layout.meta_key(bad.key)).write_text('{"options": {"priority": "high"}}')
    handler = Ingest(settings, facts, objects)
    await handler.handle(announced(good))
    await handler.handle(announced(bad))
    fact = await facts.last(job_id_for(good), "ingested")
    assert isinstance(fact, Ingested) and fact.user_metadata == {"course": "physics"}
    assert (fact.options.priority, fact.options.transcription_language) == (9, "en")
    rejected = await facts.last(job_id_for(bad), "rejected")
    assert isinstance(rejected, Rejected) and rejected.code == "invalid_metadata"


async def test_the_last_delivery_rejects_its_objects_and_poison_is_dropped(facts, objects, settings):
    ref = put_source(objects, media("valid/h264_1080x720_aac.flv"))
    handler = Ingest(settings, facts, objects)
    await handler.on_failure(announced(ref), TimeoutError("store unreachable"))
    fact = await facts.last(job_id_for(ref), "rejected")
    assert isinstance(fact, Rejected) and fact.code == "ingest_failed" and "Store unreachable." in fact.message
    poison = Delivery(subject="minio.events", data=b"\x00not json")
    with pytest.raises(Permanent):
        await handler.handle(poison)
    await handler.on_failure(poison, Permanent("undecodable"))  # logged, nothing raised
