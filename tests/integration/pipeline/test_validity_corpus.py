"""Every valid file completes; every invalid one is refused with its precise reason, at the
door and in ingest alike (issue 27). The corpus (`tests.support.corpus`) is generated here
from the real media: MPEG-PS, VOB, Ogg/Theora, MXF, NUT, Y4M, M2TS/MTS, 3GP/3G2, a static
1 fps clip, 32 audio tracks, extreme VFR; audio-only files, playlists, raw streams, a frame
at 86,000 s, a 15000x15000 frame."""

from __future__ import annotations

import pytest

from tests.integration.conftest import job_by_key
from tests.support.corpus import INVALID, VALID, make

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    for case in (*VALID, *INVALID):
        make(case, folder)
    return folder


async def test_every_valid_kind_of_file_completes(stack, pool, corpus_dir):
    for case in VALID:
        stack.drop(corpus_dir / case.name, f"corpus-{case.name}")
    outcome: dict[str, str] = {}
    for case in VALID:
        name = f"corpus-{case.name}"
        job = await job_by_key(pool, f"raw/{name}", ("completed", "failed"), timeout=300)
        outcome[case.name] = job["status"] if job["status"] == "completed" else \
            f"{job['status']}: {job['error_code']}: {job['error_message']}"
        assert stack.wait_filed(name, 30) == "done"  # accepted by ingest, kept byte for byte
        assert (stack.inbox / "done" / name).read_bytes() == (corpus_dir / case.name).read_bytes()
    print("\nvalid corpus:", "\n".join(f"  {n}: {o}" for n, o in outcome.items()))
    assert all(o == "completed" for o in outcome.values()), outcome
