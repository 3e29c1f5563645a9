"""The handler tier: the media handlers driven directly, on `Facts` in memory and on a
real JetStream (a nats-server from its wheel, random loopback port), with sources and
outputs in a local folder (`DirectoryObjects`) and the real ffmpeg."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
import pytest_asyncio

from contracts import Ingested, JobEvent, ObjectRef, encode, job_id_for, subject_for, utcnow
from intake.validation import plan_tasks, validate
from media.probe import read_media
from ops.processes import stop_process
from ops.stack import free_port, wait_for_port
from runtime.jetstream.connection import apply_definitions
from runtime.jetstream.delivery import Delivery
from runtime.settings import Settings
from runtime.storage.objects import DirectoryObjects
from runtime.worker.facts import Facts, JetStreamFacts, MemoryFacts

BUCKET = "videos"


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([str(Path(sys.executable).parent / "nats-server"), "-a", "127.0.0.1", "-p", str(port),
                             "-js", "-sd", str(tmp_path_factory.mktemp("handler-nats"))],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, 20, proc)
    yield f"nats://127.0.0.1:{port}"
    stop_process(proc, "nats (handlers)")


@pytest_asyncio.fixture(params=["memory", pytest.param("jetstream", marks=pytest.mark.integration)])
async def facts(request) -> AsyncIterator[Facts]:
    """The same handler tests on both implementations of `Facts`."""
    if request.param == "memory":
        yield MemoryFacts()
        return
    nc = await nats.connect(request.getfixturevalue("nats_url"))
    js = nc.jetstream()
    await apply_definitions(js)
    yield JetStreamFacts(js, "handler-tests")
    await nc.close()


@pytest.fixture
def objects(tmp_path) -> DirectoryObjects:
    return DirectoryObjects(tmp_path / "store", BUCKET)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data", worker={"work_dir": tmp_path / "work"}, media={"transcription": False, "quality_metrics": False}, s3={"bucket": BUCKET})


def put_source(objects: DirectoryObjects, src: Path) -> ObjectRef:
    """Copy a real clip into the folder store as `raw/<unique name>`."""
    key = f"raw/{uuid.uuid4().hex}{src.suffix}"
    dest = objects.path(BUCKET, key)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    return ObjectRef(bucket=BUCKET, key=key, etag=uuid.uuid4().hex, size=dest.stat().st_size)


def ingested(objects: DirectoryObjects, src: Path, settings: Settings) -> Ingested:
    """The `ingested` fact ingest would publish for `src` (real probe, real plan)."""
    ref = put_source(objects, src)
    probe = validate(read_media(objects.url(BUCKET, ref.key)), ref.size, settings.intake)
    return Ingested(job_id=job_id_for(ref), at=utcnow(), source=ref, origin="inbox", probe=probe,
                    plan=plan_tasks(probe, None, settings.media.transcription))


def delivery(event: JobEvent, attempt: int = 1) -> Delivery:
    """The message a consumer would hand the handler for `event`."""
    return Delivery(subject=subject_for(event), data=encode(event), attempt=attempt)
