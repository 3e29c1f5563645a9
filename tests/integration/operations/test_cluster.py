"""Scale-out on a three-node NATS cluster (slow): JetStream with every stream R3 on
loopback; host A (`running_stack`: Postgres, the S3 store, every service) and host B
(`tflow up --only` the workers, joining with every endpoint external) give two replicas
of each worker, spread over the nodes. The node leading the JOBS stream is killed with
`kill -9` mid-run: every job completes, each task completed once (no duplicate facts or
outputs), and the read model equals a rebuild from the stream. Recovery times are
measured (not asserted) and written to `bench/results/cluster-<time>.json`."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import nats
import pytest
from pydantic import SecretStr

from ops import natsauth
from ops.processes import Program, spawn, stop_all
from ops.stack import LOOPBACK, free_port, running_stack, service_env, wait_for_http, wait_for_port
from readmodel.db import create_pool
from runtime.settings import Settings
from tests.integration.conftest import TEST_ENV, Stack, wait_for
from tests.integration.operations.test_faults import RESULTS, bucket_keys, expected_keys
from tests.integration.pipeline.test_projector import assert_rebuild_reproduces
from tests.media import media

pytestmark = [pytest.mark.integration, pytest.mark.slow]
WORKERS = ("ingest", "transcoder", "thumbnailer", "transcriber", "finalizer")
CLIPS = ["valid/h264_1080x720_aac.flv", "valid/mpeg4asp_960x400_mp3.avi", "valid/phone_1280x720_rot180_vfr.mp4",
         "valid/friday_640x480_speech_h264_aac.mp4", "valid/h264_1080x720_aac.flv"]


@dataclass
class Node:
    name: str
    port: int
    monitor: int
    proc: subprocess.Popen

    @property
    def url(self) -> str:
        return f"nats://{LOOPBACK}:{self.port}"


def start_nodes(root: Path, secrets: Path) -> list[Node]:
    """Three JetStream nodes of cluster `tflow` with the project's users and permissions."""
    ports = [(free_port(), free_port(), free_port()) for _ in range(3)]
    routes = [f"nats-route://{LOOPBACK}:{c}" for _, c, _ in ports]
    nodes = []
    for i, (client, cluster, monitor) in enumerate(ports):
        conf = json.loads(natsauth.server_config(host=LOOPBACK, port=client, store_dir=root / f"n{i}",
                                                 secrets_dir=secrets, server_name=f"n{i}", cluster_port=cluster,
                                                 routes=routes))
        conf["http_port"] = monitor
        path = root / f"n{i}.conf"
        path.write_text(json.dumps(conf))
        binary = str(Path(sys.executable).parent / "nats-server")
        proc = spawn(Program(f"n{i}", (binary, "-c", str(path)), log=root / "logs" / f"n{i}.log"))
        nodes.append(Node(f"n{i}", client, monitor, proc))
    for n in nodes:
        wait_for_port(n.port, 20, n.proc)
    return nodes


async def jetstream_ready(url: str, password: str, timeout: float = 30) -> None:
    """Until the cluster has a JetStream meta leader (account info answers)."""
    nc = await nats.connect(url, user=natsauth.ADMIN, password=password)
    try:
        async def ready():
            try:
                return await nc.jetstream().account_info()
            except Exception:  # noqa: BLE001 - no meta leader yet
                return None
        await wait_for(ready, timeout, "a JetStream meta leader")
    finally:
        await nc.close()


def connections(nodes: list[Node]) -> dict[str, list[str]]:
    """Client name -> the nodes it is connected to, from each live node's /connz."""
    out: dict[str, list[str]] = {}
    for n in nodes:
        if n.proc.poll() is not None:
            continue
        for c in httpx.get(f"http://{LOOPBACK}:{n.monitor}/connz?limit=1024", timeout=5).json()["connections"] or []:
            out.setdefault(c.get("name", ""), []).append(n.name)
    return out


@dataclass
class Cluster:
    nodes: list[Node]
    stack: Stack
    host_b: subprocess.Popen
    log_b: Path


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("cluster")
    secrets = root / "data" / "secrets"
    secrets.mkdir(parents=True, mode=0o700)
    creds = natsauth.credentials(secrets)
    nodes = start_nodes(root, secrets)
    try:
        urls = ",".join(n.url for n in nodes)
        asyncio.run(jetstream_ready(nodes[0].url, creds[natsauth.ADMIN]))
        settings = Settings(_env_file=None, data_dir=root / "data", nats={"url": urls, "user": natsauth.ADMIN, "password": SecretStr(creds[natsauth.ADMIN]), "replicas": 3}, s3={"port": 0}, api={"port": free_port()})
        env = {**TEST_ENV, "TFLOW_WORK_DIR": str(root / "work-a"), "TFLOW_NATS_REPLICAS": "3"}
        with running_stack(settings, extra_env=env, service_logs=root / "logs-a") as (resolved, sup, servers):
            wait_for_http(f"http://{resolved.api.host}:{resolved.api.port}/health", 60)
            host_b = join_workers(root, resolved, ",".join(n.url for n in [*nodes[1:], nodes[0]]))
            try:
                yield Cluster(nodes, Stack(resolved, sup, servers, root / "logs-a"), host_b, root / "host-b.log")
            finally:
                stop_all({"host-b": host_b}, 10.0, {"host-b": signal.SIGINT})
    finally:
        stop_all({n.name: n.proc for n in nodes}, 5.0)


def join_workers(root: Path, a: Settings, urls: str) -> subprocess.Popen:
    """Host B: `tflow up --only` the workers, every endpoint external, the NATS secrets
    copied (0600) as an operator would; returns once it says its services are up."""
    data = root / "host-b"
    (data / "secrets").mkdir(parents=True, mode=0o700)
    shutil.copy(a.data_dir / "secrets" / "nats.json", data / "secrets" / "nats.json")
    (data / "secrets" / "nats.json").chmod(0o600)
    env = {k: v for k, v in service_env(a).items() if k != "TFLOW_NATS_PASSWORD"}
    env.update({**TEST_ENV, "TFLOW_DATA_DIR": str(data), "TFLOW_INBOX": str(data / "inbox"), "TFLOW_NATS_URL": urls,
                "TFLOW_NATS_USER": natsauth.ADMIN, "TFLOW_WORK_DIR": str(root / "work-b")})
    log = root / "host-b.log"
    proc = subprocess.Popen([sys.executable, "-m", "ops.cli", "up", "--only", ",".join(WORKERS)], env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while "services up" not in log.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.1)
    assert "api" not in log.read_text().split("services up", 1)[1].splitlines()[0]
    return proc


async def jobs_leader(js) -> str:
    return (await js.stream_info("JOBS")).cluster.leader


async def test_two_replicas_per_worker_on_r3_streams_survive_a_killed_node(cluster, tmp_path):
    stack, nodes = cluster.stack, cluster.nodes
    pool = await create_pool(stack.settings.database.url or "")
    nc = await nats.connect(servers=[n.url for n in nodes], user=natsauth.ADMIN,
                            password=stack.settings.nats.password.get_secret_value(), max_reconnect_attempts=-1)
    js = nc.jetstream()
    try:
        info = await js.stream_info("JOBS")
        assert info.config.num_replicas == 3 and len(info.cluster.replicas or []) == 2
        assert (await js.stream_info("FINALIZE")).config.num_replicas == 3

        async def spread():  # both replicas of every worker connected, over more than one node
            conns = connections(nodes)
            per = {w: conns.get(w, []) for w in WORKERS}
            on = {n for names in per.values() for n in names}
            return per if all(len(v) >= 2 for v in per.values()) and len(on) >= 2 else None
        placement = await wait_for(spread, 30, "two connected replicas of every worker")

        names = [f"cluster-{i}{Path(c).suffix}" for i, c in enumerate(CLIPS)]
        for name, clip in zip(names, CLIPS, strict=True):
            stack.drop(media(clip), name)

        async def some_done():
            return await pool.fetchval("SELECT count(*) FROM tasks t JOIN jobs j ON j.id = t.job_id "
                                       "WHERE j.source_key LIKE 'raw/cluster-%' AND t.status = 'completed'")
        await wait_for(some_done, 120, "the first task completed")
        leader = await jobs_leader(js)
        victim = next(n for n in nodes if n.name == leader)
        killed = time.monotonic()
        os.kill(victim.proc.pid, signal.SIGKILL)
        victim.proc.wait()

        async def new_leader():
            try:
                now = await jobs_leader(js)
            except Exception:  # noqa: BLE001 - no leader during the election
                return None
            return now if now and now != leader else None
        await wait_for(new_leader, 60, "a new JOBS leader")
        elected = time.monotonic() - killed

        async def all_done():
            rows = await pool.fetch("SELECT status FROM jobs WHERE source_key LIKE 'raw/cluster-%'")
            return len(rows) == len(names) and all(r["status"] in ("completed", "failed") for r in rows)
        await wait_for(all_done, 300, "every job terminal after the kill")
        finished = time.monotonic() - killed

        jobs = await pool.fetch("SELECT * FROM jobs WHERE source_key LIKE 'raw/cluster-%'")
        for job in jobs:
            assert job["status"] == "completed", (job["source_key"], job["error_code"], job["error_message"])
            tasks = [dict(t) for t in await pool.fetch("SELECT * FROM tasks WHERE job_id = $1", job["id"])]
            assert bucket_keys(stack, job["id"]) == expected_keys(stack, job["id"], tasks), job["source_key"]
            done = await js.stream_info("JOBS", subjects_filter=f"jobs.{job['id']}.task_completed.>")
            assert sorted(done.state.subjects or {}) == sorted(
                f"jobs.{job['id']}.task_completed.{t['name']}.p05" for t in tasks)
            assert set((done.state.subjects or {}).values()) == {1}, done.state.subjects  # each task once
        for worker in ("transcoder", "thumbnailer"):  # both hosts' replicas did some of the work
            on_a = (stack.logs / f"{worker}.log").read_text().count(f'"message": "{worker}: starting')
            on_b = cluster.log_b.read_text().count(f'"service": "{worker}", "logger": "runtime.worker.handler", '
                                                   f'"message": "{worker}: starting')
            assert on_a and on_b, (worker, on_a, on_b)

        await assert_rebuild_reproduces(pool, js, stack.settings)
    finally:
        await nc.close()
        await pool.close()
    figures = {"jobs": len(names), "killed_node": leader, "leader_elected_s": round(elected, 2),
               "all_jobs_terminal_after_kill_s": round(finished, 2),
               "placement": {w: sorted(v) for w, v in placement.items()}}
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    (RESULTS / f"cluster-{stamp}.json").write_text(json.dumps(figures, indent=2) + "\n")
    print("\ncluster recovery:", json.dumps(figures, indent=2))
