"""The production files under deploy/ and compose.yaml, checked by the tools that run them:
the Compose Specification's loader (compose-go), promtool, and the dashboard builder."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from pydantic import SecretStr

from ops.production import write_nats_config
from runtime.guard import PlaceholderSecrets, refuse_placeholders, weak_secrets
from runtime.settings import Settings, environment_variables
from services import SERVICES
from tests.media import REPO_ROOT
from tests.support.deploy import DEPLOY, render_template

COMPOSE = REPO_ROOT / "compose.yaml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"


def composecheck() -> str:
    path = Path(os.environ.get("TFLOW_COMPOSECHECK") or REPO_ROOT / ".tools" / "bin" / "composecheck")
    if not path.exists():
        reason = "Go is not installed" if shutil.which("go") is None else "run `make composecheck` (make test does)"
        pytest.skip(f"compose-go loader not built at {path} ({reason}): compose.yaml not validated")
    return str(path)


def load_compose(env_file: Path, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TFLOW_", "POSTGRES_", "MINIO_", "GF_"))}
    return subprocess.run([composecheck(), "-f", str(COMPOSE), "-env", str(env_file)], capture_output=True,
                          text=True, env={**env, **(extra_env or {})}, cwd=REPO_ROOT, check=False)


def test_compose_loads_with_the_example_env_and_wires_every_service():
    proc = load_compose(ENV_EXAMPLE)
    assert proc.returncode == 0, proc.stderr
    services = json.loads(proc.stdout)["services"]
    assert set(SERVICES) <= set(services)
    assert {"minio", "nats", "postgres", "nginx", "prometheus", "grafana", "init", "nats-config"} <= set(services)
    one_shot = {"init", "nats-config"}
    for name, svc in services.items():
        if name not in one_shot:
            assert svc.get("restart") == "unless-stopped", name
        if name not in one_shot | {"node-exporter", "grafana"}:
            assert svc.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        for mount in svc.get("volumes", []):
            if mount["type"] == "bind" and mount["target"].startswith("/data"):
                assert mount["source"].startswith("/data/"), (name, mount)  # state under TFLOW_DATA_ROOT
    for name in SERVICES:
        svc = services[name]
        assert svc["depends_on"]["init"]["condition"] == "service_completed_successfully"
        assert svc["environment"]["TFLOW_NATS_USER"] == name and svc["environment"]["TFLOW_ENVIRONMENT"] == "production"
        assert svc["image"].startswith("transcode-flow/transcriber" if name == "transcriber" else "transcode-flow/app")
    published = {name for name, svc in services.items() if svc.get("ports")}
    assert published == {"nginx", "grafana", "prometheus"}
    for name in ("grafana", "prometheus"):
        assert services[name]["ports"][0]["host_ip"] == "127.0.0.1"
    assert services["nats"]["depends_on"]["nats-config"]["condition"] == "service_completed_successfully"


def test_compose_minio_publishes_its_events_as_the_embedded_stack_does():
    """compose's MinIO and `ops.minio` configure the same NATS target: the same settings
    (no queue_dir: a direct publish, the sweep as backstop), user and password from MinIO's
    env file in compose (`ops.production`), from `ops.natsauth` in the embedded stack."""
    from ops.minio import notify_env

    proc = load_compose(ENV_EXAMPLE)
    assert proc.returncode == 0, proc.stderr
    compose = {k: v for k, v in json.loads(proc.stdout)["services"]["minio"]["environment"].items()
               if k.startswith("MINIO_NOTIFY_")}
    embedded = notify_env("nats:4222", "minio", "secret")
    secret_keys = {"MINIO_NOTIFY_NATS_USERNAME_PRIMARY", "MINIO_NOTIFY_NATS_PASSWORD_PRIMARY"}
    assert compose == {k: v for k, v in embedded.items() if k not in secret_keys}
    assert not any("QUEUE" in k for k in embedded)


def test_compose_refuses_to_load_without_its_secrets(tmp_path):
    env = tmp_path / ".env"
    env.write_text("".join(line + "\n" for line in ENV_EXAMPLE.read_text().splitlines()
                           if not line.startswith("POSTGRES_PASSWORD=")))
    proc = load_compose(env)
    assert proc.returncode != 0 and "set POSTGRES_PASSWORD in .env" in proc.stderr


def test_env_example_names_every_setting():
    text = ENV_EXAMPLE.read_text()
    missing = [name for name in environment_variables() if not re.search(rf"^#? ?{name}=", text, re.M)]
    assert not missing, f".env.example does not name: {missing}"


def test_production_refuses_placeholder_secrets(tmp_path):
    example = {k: v for k, v in (line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines()
                                 if line and not line.startswith("#"))}
    s = Settings(_env_file=None, environment="production", data_dir=tmp_path, s3={"secret_key": SecretStr(example["MINIO_ROOT_PASSWORD"])}, api={"admin_key": SecretStr(example["TFLOW_ADMIN_KEY"])}, outputs={"stream_secret": SecretStr(example["TFLOW_STREAM_SECRET"])}, database={"url": "postgresql://tflow:CHANGE_ME@postgres/tflow"})
    with pytest.raises(PlaceholderSecrets, match="TFLOW_ADMIN_KEY") as refused:
        refuse_placeholders(s, {"POSTGRES_PASSWORD": "CHANGE_ME"})
    assert "CHANGE_ME" not in str(refused.value)  # names, never values
    strong = "x" * 12 + "Q7f3-9kLm2Zp"
    good = s.updated(s3={"secret_key": SecretStr(strong)}, api={"admin_key": SecretStr("tf_admin_" + strong)}, outputs={"stream_secret": SecretStr(strong)}, webhooks={"secret": SecretStr("whsec_" + strong)}, database={"url": f"postgresql://tflow:{strong}@postgres/tflow"})
    assert weak_secrets(good, {"POSTGRES_PASSWORD": strong}) == []
    refuse_placeholders(good, {"POSTGRES_PASSWORD": strong})
    assert weak_secrets(good, {"GF_SECURITY_ADMIN_PASSWORD": "admin"}) == ["GF_SECURITY_ADMIN_PASSWORD"]
    refuse_placeholders(s.updated(environment="development"), {})  # only production refuses


def test_nats_config_syncs_every_write_and_hashes_passwords(tmp_path):
    out = write_nats_config(Settings(_env_file=None, data_dir=tmp_path), tmp_path / "nats" / "nats-server.conf",
                            "0.0.0.0", 4222, Path("/data/nats/jetstream"))
    doc = json.loads(out.read_text())
    assert doc["jetstream"] == {"store_dir": "/data/nats/jetstream", "sync_interval": "always"}
    assert doc["http_port"] == 8222 and out.stat().st_mode & 0o777 == 0o600
    passwords = json.loads((tmp_path / "secrets" / "nats.json").read_text())
    users = {u["user"]: u for u in doc["authorization"]["users"]}
    assert set(passwords) == set(users) and all(users[u]["password"].startswith("$2") for u in users)
    env = (tmp_path / "secrets" / "minio.env").read_text()
    assert f"MINIO_NOTIFY_NATS_PASSWORD_PRIMARY={passwords['minio']}" in env


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool not installed (make test installs Debian's prometheus when apt-get can run)")
    return path


def test_prometheus_config_and_rules_pass_promtool():
    promtool = _promtool()
    rules = DEPLOY / "prometheus" / "rules"
    for args in (["check", "config", str(DEPLOY / "prometheus" / "prometheus.yml")],
                 ["check", "rules", str(rules / "alerts.yml"), str(rules / "recording.yml")],
                 ["test", "rules", str(rules / "alerts.test.yml")]):
        proc = subprocess.run([promtool, *args], capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_promtool_tests_cover_every_alert_and_alertmanager_takes_its_config(tmp_path):
    import yaml

    rules = DEPLOY / "prometheus" / "rules"
    alerts = {r["alert"] for g in yaml.safe_load((rules / "alerts.yml").read_text())["groups"] for r in g["rules"]}
    tested = {t["alertname"] for g in yaml.safe_load((rules / "alerts.test.yml").read_text())["tests"]
              for t in g["alert_rule_test"]}
    assert alerts >= {"NatsDown", "PostgresDown", "MinIODown", "ApiDown", "WorkerDown", "DiskFull", "DeadLetters",
                      "TaskStalled"}
    assert alerts - tested == set(), "alerts without a promtool test"
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.skip("amtool not installed (make test installs Debian's prometheus-alertmanager when apt-get can run)")
    config = tmp_path / "alertmanager.yml"
    config.write_text(render_template((DEPLOY / "alertmanager" / "alertmanager.yml.template").read_text(), {
        "TFLOW_ALERT_WEBHOOK_URL": "https://hooks.example.org/alerts", "TFLOW_ALERT_GROUP_WAIT": "30s",
        "TFLOW_ALERT_GROUP_INTERVAL": "5m"}))
    proc = subprocess.run([amtool, "check-config", str(config)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_committed_dashboards_are_the_builders_output():
    spec = importlib.util.spec_from_file_location("dashboards", DEPLOY / "grafana" / "dashboards.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rendered = module.render()
    folder = DEPLOY / "grafana" / "dashboards"
    assert sorted(rendered) == sorted(p.name for p in folder.glob("*.json"))
    for name, text in rendered.items():
        assert (folder / name).read_text() == text, f"{name} is stale: run `make dashboards`"
    titles = {json.loads(t)["title"] for t in rendered.values()}
    assert titles == {"Transcode Flow / Job overview", "Transcode Flow / System performance",
                      "Transcode Flow / Storage analytics", "Transcode Flow / API analytics"}


def test_dockerfile_stages_are_what_compose_builds_and_run_as_non_root():
    proc = subprocess.run([composecheck(), "-dockerfile", str(REPO_ROOT / "Dockerfile")], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    stages = {s["name"]: s for s in json.loads(proc.stdout)}
    services = json.loads(load_compose(ENV_EXAMPLE).stdout)["services"]
    targets = {svc["build"]["target"] for svc in services.values() if svc.get("build")}
    assert targets == {"app", "transcriber", "minio"} and targets <= set(stages)
    for target in targets:
        assert stages[target]["user"] == "tflow", f"stage {target} runs as root"
    text = (REPO_ROOT / "Dockerfile").read_text()
    app = text[text.index("FROM base AS app"):text.index("FROM base AS transcriber")]
    transcriber = text[text.index("FROM base AS transcriber"):]
    assert "transcriber" not in app and "faster" not in app  # the API image carries no Whisper model
    assert "[transcriber" in transcriber and "verify(m)" in transcriber  # models checked by SHA-256 at build
    packages = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    copied = set(re.findall(r"^COPY (\w+) \1$", text[:text.index("FROM ${PYTHON_IMAGE} AS base")], re.MULTILINE))
    assert copied == {p.rstrip("*") for p in packages["include"]}, "the image's wheel must hold every package"
    assert re.search(r"MINIO_VERSION=(\S+)", text).group(1) == \
        re.search(r"MINIO_VERSION := (\S+)", (REPO_ROOT / "Makefile").read_text()).group(1)


def test_bootstrap_generates_a_self_signed_pair_once_and_keeps_an_operators(tmp_path):
    from cryptography import x509

    from ops.tls import ensure_pair
    cert, key, generated = ensure_pair(tmp_path, ["transcode.example.org", "127.0.0.1"])
    assert generated and key.stat().st_mode & 0o777 == 0o600 and cert.parent.stat().st_mode & 0o777 == 0o700
    parsed = x509.load_pem_x509_certificate(cert.read_bytes())
    san = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["transcode.example.org"]
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    cert.write_text("an operator's certificate\n")  # an operator's (or ACME) pair is used as it is
    assert ensure_pair(tmp_path, ["other"]) == (cert, key, False) and cert.read_text() == "an operator's certificate\n"
