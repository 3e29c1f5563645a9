"""The package works installed, not only from the checkout: a plain (non-editable) wheel
installed into a fresh venv finds its stream definitions and migrations as package
data, migrates a new database, and its ingest service, started outside the checkout
against a NATS server of its own, creates the streams and turns a dropped clip into
an `ingested` fact."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import venv
from pathlib import Path

import nats
import pytest

from contracts import Ingested, decode_job_event
from ops import s3auth
from ops.processes import stop_process
from ops.stack import free_port, wait_for_port
from tests.media import REPO_ROOT, media

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory) -> Path:
    """A fresh venv holding only the built wheel; the dependencies are seen through a
    `.pth` line pointing at this venv's site-packages (after the wheel's own files, and
    without this venv's editable-install hooks, which live in `.pth` files it does not run)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"  # built from a copy: setuptools writes build/ beside the sources
    shutil.copytree(REPO_ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", ".tools", "data", "build",
                                                                      "*.egg-info", "__pycache__", ".pytest_cache",
                                                                      ".mypy_cache", ".ruff_cache"))
    out = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(root / "dist"), str(source)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    [wheel] = (root / "dist").glob("transcode_flow-*.whl")
    env_dir = root / "venv"
    venv.create(env_dir, with_pip=False)
    py = env_dir / "bin" / "python"
    site = Path(subprocess.check_output([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        text=True).strip())
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, timeout=300)
    (site / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    shutil.copy(Path(sys.executable).parent / "dbmate", env_dir / "bin" / "dbmate")
    return py


def run_in(py: Path, code: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    out = subprocess.run([str(py), "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120,
                         env={**os.environ, **(env or {})})
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_the_wheel_carries_its_definitions_and_migrations(wheel_venv, tmp_path):
    code = ("import contracts, readmodel.db as db, runtime.jetstream.connection as n; "
            "print(contracts.__file__); print(len(n.load_stream_configs()), len(n.load_consumer_configs())); "
            "print(sorted(p.name for p in db.MIGRATIONS_DIR.glob('*.sql')))")
    where, counts, migrations = run_in(wheel_venv, code, tmp_path).splitlines()
    assert str(REPO_ROOT) not in where and "site-packages" in where  # not the checkout
    assert counts == "4 44"  # JOBS, MINIO, DLQ, FINALIZE; 3 workers x 10 bands, 8 finalizer partitions, ingest, 5 DLQ
    assert len(eval(migrations)) == len(list((REPO_ROOT / "readmodel" / "migrations").glob("*.sql")))


async def test_an_installed_service_runs_outside_the_checkout(stack, wheel_venv, tmp_path):
    # migrations from the wheel into a new database of the session's Postgres
    url = (stack.settings.database.url or "").replace("/tflow?", "/tflow_wheel?")
    run_in(wheel_venv, "import sys; from ops.cli import main; sys.exit(main(['migrate']))", tmp_path,
           {"TFLOW_DATABASE_URL": url})
    # `tflow bootstrap` then ingest from the wheel, on a NATS server with no streams yet and a bucket of its own
    port = free_port()
    nats_dir = tmp_path / "nats"
    nats_proc = subprocess.Popen([str(Path(sys.executable).parent / "nats-server"), "-a", "127.0.0.1", "-p", str(port),
                                  "-js", "-sd", str(nats_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    inbox = tmp_path / "inbox"
    env = {**os.environ, "TFLOW_NATS_URL": f"nats://127.0.0.1:{port}", "TFLOW_S3_ENDPOINT": stack.settings.s3.endpoint,
           "TFLOW_BUCKET": "wheeltest", "TFLOW_INBOX": str(inbox), "TFLOW_DATA_DIR": str(tmp_path / "data"),
           "TFLOW_SWEEP_INTERVAL_SECONDS": "0", "TFLOW_INBOX_SETTLE_SECONDS": "0.3", "TFLOW_DATABASE_URL": url,
           # a bucket of its own: MinIO's root user (the services' user may touch only the stack's bucket)
           **dict(zip(("TFLOW_S3_ACCESS_KEY", "TFLOW_S3_SECRET_KEY"),
                      s3auth.root_credentials(stack.settings.data_dir / "secrets"), strict=True))}
    service = None
    try:
        wait_for_port(port, 20, nats_proc)
        run_in(wheel_venv, "import sys; from ops.cli import main; sys.exit(main(['bootstrap']))", tmp_path, env)
        with (tmp_path / "ingest.log").open("wb") as log:
            service = subprocess.Popen([str(wheel_venv), "-m", "services.ingest"], cwd=tmp_path, env=env,
                                       stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 30
        while not inbox.is_dir() and time.monotonic() < deadline:
            time.sleep(0.1)
        shutil.copyfile(media("valid/h264_1080x720_aac.flv"), inbox / "from-the-wheel.flv")
        fact = await _first_ingested(f"nats://127.0.0.1:{port}", 60)
        assert fact.source.bucket == "wheeltest" and fact.source.key == "raw/from-the-wheel.flv", \
            (tmp_path / "ingest.log").read_text()[-2000:]
        assert service.poll() is None
    finally:
        if service is not None:
            stop_process(service, "ingest (wheel)")
        stop_process(nats_proc, "nats (wheel)")


async def _first_ingested(url: str, timeout: float) -> Ingested:
    """The first `ingested` fact on the JOBS stream at `url` (which the bootstrap creates)."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                await js.stream_info("JOBS")
            except nats.js.errors.NotFoundError:
                await asyncio.sleep(0.2)
                continue
            sub = await js.subscribe("jobs.*.ingested.*", stream="JOBS", ordered_consumer=True)
            msg = await sub.next_msg(timeout=max(1.0, deadline - time.monotonic()))
            event = decode_job_event(msg.data)
            assert isinstance(event, Ingested)
            return event
        raise AssertionError(f"the JOBS stream did not appear within {timeout}s")
    finally:
        await nc.close()
