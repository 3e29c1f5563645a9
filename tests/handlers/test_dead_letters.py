"""A dead letter becomes a failure fact naming its tasks (reliability finding: a message
whose worker died on its last delivery left the job `processing` forever). Real
JetStream: a consumer with `max_deliver` 1 exhausts a message, the server's advisory
lands in DLQ, and `DeadLetterHandler` hands it to the transcoder's own `on_failure`."""

from __future__ import annotations

import asyncio
import json
import uuid

import nats
import pytest
from nats.js.api import ConsumerConfig
from prometheus_client import REGISTRY

from contracts import DLQ_STREAM, TaskFailed, layout, subject_for
from runtime.jetstream.connection import apply_definitions
from runtime.jetstream.delivery import Delivery
from runtime.worker.deadletters import DeadLetterHandler, list_dead_letters, redrive
from runtime.worker.facts import JetStreamFacts
from runtime.worker.replay import NoSuchJob
from services.transcoder.handler import Transcoder
from tests.handlers.conftest import ingested
from tests.media import media

pytestmark = pytest.mark.integration


async def test_an_exhausted_message_fails_its_tasks_through_the_dlq(nats_url, objects, settings):
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await apply_definitions(js)
    facts = JetStreamFacts(js, "dlq-test")
    ing = ingested(objects, media("valid/h264_1080x720_aac.flv"), settings)
    await facts.publish(ing)
    durable = f"scratch_{uuid.uuid4().hex[:8]}"
    await js.add_consumer("JOBS", ConsumerConfig(durable_name=durable, ack_policy="explicit", ack_wait=1,
                                                 max_deliver=1, filter_subject=subject_for(ing)))
    sub = await js.pull_subscribe_bind(durable, "JOBS")
    assert len(await sub.fetch(1, timeout=5)) == 1  # delivered once, never acknowledged
    with pytest.raises(nats.errors.TimeoutError):
        await sub.fetch(1, timeout=3)  # exhausted: not delivered again, advised instead
    letter = None
    for _ in range(50):
        _, letters = await list_dead_letters(js, 10)
        letter = next((d for d in letters if d.advisory.consumer == durable), None)
        if letter:
            break
        await asyncio.sleep(0.1)
    assert letter is not None and letter.advisory.kind == "max_deliveries" and letter.job_id == ing.job_id
    advisory = await js.get_msg(DLQ_STREAM, letter.seq)
    before = REGISTRY.get_sample_value("tflow_dead_letters_total",
                                       {"stream": "JOBS", "consumer": durable, "kind": "max_deliveries"}) or 0
    handler = DeadLetterHandler(js, Transcoder(settings, facts, objects).on_failure)
    await handler.handle(Delivery(subject=advisory.subject or "", data=advisory.data or b""))
    for task in (layout.video_task("360p"), layout.video_task("720p"), layout.MP3_TASK):
        failed = await facts.last(ing.job_id, "task_failed", task)
        assert isinstance(failed, TaskFailed) and failed.permanent and failed.code == "DeadLettered"
        assert "1 deliveries without an acknowledgement" in failed.message
    assert REGISTRY.get_sample_value("tflow_dead_letters_total", {"stream": "JOBS", "consumer": durable,
                                                                  "kind": "max_deliveries"}) == before + 1
    # a poison fact of a job that never existed, given up on: re-driving it says so
    poison = f"jobs.{uuid.uuid4()}.ingested.p05"
    seq = (await js.publish(poison, b"\x00 not a fact")).seq
    ghost = await js.publish(f"$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.JOBS.{durable}", json.dumps({
        "type": "io.nats.jetstream.advisory.v1.terminated", "id": "x", "timestamp": "2026-12-01T00:00:00Z",
        "stream": "JOBS", "consumer": durable, "stream_seq": seq, "deliveries": 1}).encode())
    with pytest.raises(NoSuchJob, match="never ingested"):
        await redrive(js, facts, ghost.seq)
    with pytest.raises(LookupError):
        await redrive(js, facts, 10**9)
    await js.delete_consumer("JOBS", durable)
    await nc.close()
