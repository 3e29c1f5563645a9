"""The production topology run natively (no Docker engine here): the embedded stack (NATS,
Postgres, MinIO publishing its bucket events to NATS), every service, and
Debian's nginx, prometheus and node_exporter with the repository's own configs
(`deploy/`). Used by test_production.py (playback, metrics, backup and restore)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from ops import processes
from ops.processes import Program, Supervisor, stop_process
from ops.production import configure_minio
from ops.scrape import PROMETHEUS_TARGETS
from ops.stack import free_port, loopback_settings, running_stack, wait_for_port
from ops.tls import ensure_pair, spki_sha256
from runtime.settings import Settings
from runtime.storage import store
from tests.integration.conftest import TEST_ENV
from tests.support.deploy import DEPLOY, native_prometheus_config, quick_rules, render_template

LOOPBACK = "127.0.0.1"


class AlertInbox:
    """A webhook receiver on loopback: every Alertmanager notification (webhook JSON v4)
    it was sent, with the monotonic time it arrived."""

    def __init__(self) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.received: list[tuple[float, dict]] = []
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                inbox.received.append((time.monotonic(), json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                return

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.url = f"http://{LOOPBACK}:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def alerts(self, name: str, status: str, since: float = 0.0, **labels: str) -> list[float]:
        """When alerts `name` with `status` (firing, resolved) and `labels` arrived after `since`."""
        return [at for at, doc in self.received if at >= since for a in doc["alerts"]
                if a["labels"].get("alertname") == name and a["status"] == status
                and all(a["labels"].get(k) == v for k, v in labels.items())]

    def close(self) -> None:
        self.server.shutdown()


def need(program: str) -> str:
    """The path of a Debian program the topology needs; skips with the reason when absent."""
    path = shutil.which(program)
    if path is None:
        pytest.skip(f"{program} is not installed (make test installs nginx, prometheus, prometheus-node-exporter, "
                    "prometheus-alertmanager and chromium from Debian when apt-get can run): "
                    "production-topology test skipped")
    return path


def spawn(name: str, argv: list[str], log_dir: Path) -> subprocess.Popen:
    """Start a server that dies with this process (`ops.processes.spawn`); its output
    goes to `<log_dir>/<name>.log`."""
    return processes.spawn(Program(name, tuple(argv), log=log_dir / f"{name}.log"))


def nginx_main_conf(root: Path, site: Path) -> str:
    """What the nginx image's own nginx.conf does around `conf.d/`, with paths under `root`."""
    temp = " ".join(f"{k}_temp_path {root / k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    user = "user root root;" if os.geteuid() == 0 else ""
    return (f"{user} daemon off; worker_processes 2; pid {root / 'nginx.pid'}; error_log {root / 'error.log'} warn;\n"
            "events { worker_connections 1024; }\n"
            f"http {{ access_log {root / 'access.log'}; sendfile on; keepalive_timeout 65; {temp}\n"
            f"  include {site}; }}\n")


@dataclass
class Production:
    """The running topology: resolved settings, the store client, public URLs."""

    settings: Settings
    client: object
    nginx_url: str
    prometheus_url: str
    admin_key: str
    root: Path
    sup: Supervisor
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    servers: object = None
    alerts: AlertInbox | None = None
    http_url: str = ""
    certificate: Path | None = None

    @property
    def chromium_args(self) -> list[str]:
        """Chromium flags that trust this topology's certificate, and only it (by its key's SPKI hash)."""
        assert self.certificate is not None
        return [f"--ignore-certificate-errors-spki-list={spki_sha256(self.certificate.read_bytes())}"]

    def api(self) -> httpx.Client:
        """An HTTP client for the API *through NGINX*, with the admin key."""
        return httpx.Client(base_url=self.nginx_url, headers={"X-API-Key": self.admin_key}, timeout=30)


@contextmanager
def production(root: Path, env: dict[str, str] | None = None, tokens: bool = True) -> Iterator[Production]:
    """Start the whole topology under `root`; stop it on exit."""
    nginx, prometheus, node_exporter = need("nginx"), need("prometheus"), need("prometheus-node-exporter")
    alertmanager = need("prometheus-alertmanager")
    http_port, nginx_port, prom_port, node_port, am_port = free_port(), free_port(), free_port(), free_port(), \
        free_port()
    inbox = AlertInbox()
    # HTTPS through NGINX with `tflow bootstrap`'s self-signed pair, trusted by the test's clients
    cert, key, _ = ensure_pair(root / "edge", [LOOPBACK])
    trusted = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = str(cert)
    nginx_url = f"https://{LOOPBACK}:{nginx_port}"
    procs: dict[str, subprocess.Popen] = {}
    try:
        base = loopback_settings(root / "data")
        service_env = {**TEST_ENV, "TFLOW_PUBLIC_BASE_URL": f"{nginx_url}/videos", "TFLOW_S3_PUBLIC_URL": nginx_url,
                       "TFLOW_STREAM_TOKENS": "true" if tokens else "false", **(env or {})}
        with running_stack(base, extra_env=service_env, service_logs=root / "logs",
                           minio_env={"MINIO_PROMETHEUS_AUTH_TYPE": "public"}) as (resolved, sup, servers):
            client = store.make_client(resolved)
            configure_minio(servers.root_client(), resolved.s3.bucket)  # compose's bootstrap --minio, as root
            minio = resolved.s3.endpoint or ""
            conf = root / "nginx"
            conf.mkdir(exist_ok=True)
            site = conf / "transcode-flow.conf"
            site.write_text(render_template(
                (DEPLOY / "nginx" / "templates" / "transcode-flow.conf.template").read_text(),
                {"TFLOW_NGINX_LISTEN": f"{LOOPBACK}:{http_port}", "TFLOW_NGINX_TLS_LISTEN": f"{LOOPBACK}:{nginx_port}",
                 "TFLOW_TLS_CERT": str(cert), "TFLOW_TLS_KEY": str(key), "TFLOW_HTTPS_PORT_SUFFIX": f":{nginx_port}",
                 "TFLOW_API_UPSTREAM": f"{resolved.api.host}:{resolved.api.port}",
                 "TFLOW_S3_UPSTREAM": minio, "TFLOW_BUCKET": resolved.s3.bucket,
                 "TFLOW_STREAM_SECRET": resolved.stream_secret_value() or "",
                 "TFLOW_STREAM_TOKENS": "true" if tokens else "false"}))
            site.chmod(0o600)
            (conf / "nginx.conf").write_text(nginx_main_conf(conf, site))
            subprocess.run([nginx, "-t", "-q", "-p", str(conf), "-c", str(conf / "nginx.conf")], check=True)
            procs["nginx"] = spawn("nginx", [nginx, "-p", str(conf), "-c", str(conf / "nginx.conf")], root / "logs")
            procs["node_exporter"] = spawn("node_exporter", [node_exporter, f"--web.listen-address={LOOPBACK}:{node_port}",
                                                             "--collector.disable-defaults", "--collector.cpu",
                                                             "--collector.meminfo", "--collector.diskstats",
                                                             "--collector.filesystem", "--collector.netdev",
                                                             "--collector.mdadm"], root / "logs")
            am_dir = root / "alertmanager"
            am_dir.mkdir(exist_ok=True)
            (am_dir / "alertmanager.yml").write_text(render_template(
                (DEPLOY / "alertmanager" / "alertmanager.yml.template").read_text(),
                {"TFLOW_ALERT_WEBHOOK_URL": inbox.url, "TFLOW_ALERT_GROUP_WAIT": "1s",
                 "TFLOW_ALERT_GROUP_INTERVAL": "1s"}))
            procs["alertmanager"] = spawn("alertmanager", [
                alertmanager, f"--config.file={am_dir / 'alertmanager.yml'}", f"--storage.path={am_dir / 'data'}",
                f"--web.listen-address={LOOPBACK}:{am_port}", "--cluster.listen-address="], root / "logs")
            prom_dir = root / "prometheus"
            prom_dir.mkdir(exist_ok=True)
            (prom_dir / "prometheus.yml").write_text(native_prometheus_config(
                resolved.data_dir / PROMETHEUS_TARGETS, minio, f"{LOOPBACK}:{node_port}", interval="2s",
                alertmanager=f"{LOOPBACK}:{am_port}", rules_dir=quick_rules(prom_dir)))
            procs["prometheus"] = spawn("prometheus", [
                prometheus, f"--config.file={prom_dir / 'prometheus.yml'}", f"--storage.tsdb.path={prom_dir / 'data'}",
                f"--web.listen-address={LOOPBACK}:{prom_port}"], root / "logs")
            for name, port in (("nginx", nginx_port), ("nginx", http_port), ("node_exporter", node_port),
                               ("prometheus", prom_port),
                               ("alertmanager", am_port)):
                wait_for_port(port, 30, procs[name])
            yield Production(settings=resolved, client=client, nginx_url=nginx_url,
                             prometheus_url=f"http://{LOOPBACK}:{prom_port}",
                             admin_key=resolved.admin_key_value() or "", root=root, sup=sup, procs=procs,
                             servers=servers, alerts=inbox, http_url=f"http://{LOOPBACK}:{http_port}",
                             certificate=cert)
    finally:
        if trusted is None:
            os.environ.pop("SSL_CERT_FILE", None)
        else:
            os.environ["SSL_CERT_FILE"] = trusted
        for name, proc in procs.items():
            stop_process(proc, name, timeout=5)
        inbox.close()


def wait_job(prod: Production, job_id: str, timeout: float = 240) -> dict:
    """The job document once it is terminal (through NGINX); fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    with prod.api() as api:
        while time.monotonic() < deadline:
            r = api.get(f"/api/v1/jobs/{job_id}")
            if r.status_code == 200 and r.json()["status"] in ("completed", "failed", "cancelled"):
                return r.json()
            time.sleep(0.5)
    raise AssertionError(f"job {job_id} not finished after {timeout:.0f}s")
