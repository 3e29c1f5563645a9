"""The production files under `deploy/` as the native tests and operators use them.

`render_template` does what the nginx image does with `/etc/nginx/templates/*.template`
(envsubst over the variables that are defined): `${NAME}` is replaced for every `NAME`
given, and everything else — nginx's own `$variables` — stays as written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

#: The repository's deploy/ folder (the production configs: nginx, prometheus, grafana, nats).
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
_VARIABLE = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


class MissingVariable(KeyError):
    """A template names a `${TFLOW_…}` variable that has no value."""


def render_template(text: str, values: Mapping[str, str]) -> str:
    """`text` with each `${NAME}` of `values` replaced. Raises `MissingVariable` for a
    `${TFLOW_…}` name without a value (a half-rendered config must not start)."""

    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in values:
            return values[name]
        if name.startswith("TFLOW_"):
            raise MissingVariable(f"{name} has no value")
        return m.group(0)

    return _VARIABLE.sub(one, text)


def native_prometheus_config(targets_file: Path, minio: str, node: str, interval: str = "15s",
                             alertmanager: str | None = None, rules_dir: Path | None = None) -> str:
    """`deploy/prometheus/prometheus.yml` for a Prometheus on the same host as `tflow up`:
    the same global settings and rule files (absolute paths; from `rules_dir` when given),
    the services from `targets_file` (file_sd, written by `tflow up`: `ops.scrape`),
    MinIO at `minio` (cluster and bucket metrics), node_exporter at `node` and
    Alertmanager at `alertmanager` (host:port), scraped every `interval`. YAML text."""
    import yaml

    doc = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    doc["global"].update(scrape_interval=interval, evaluation_interval=interval)
    doc["rule_files"] = [str((rules_dir.parent if rules_dir else DEPLOY / "prometheus") / f) for f in doc["rule_files"]]
    compose_jobs = {job["job_name"]: job for job in doc["scrape_configs"]}
    doc["scrape_configs"] = [
        {"job_name": "services", "file_sd_configs": [{"files": [str(targets_file)], "refresh_interval": "5s"}]},
        {**compose_jobs["minio"], "static_configs": [{"targets": [minio]}]},
        {**compose_jobs["minio-bucket"], "static_configs": [{"targets": [minio]}]},
        {**compose_jobs["node"], "static_configs": [{"targets": [node]}]},
    ]
    if alertmanager is None:
        doc.pop("alerting", None)
    else:
        doc["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    text: str = yaml.safe_dump(doc, sort_keys=False)
    return text


def quick_rules(out: Path, for_seconds: int = 2) -> Path:
    """`deploy/prometheus/rules/` copied into `out/rules/` with every alert's `for` cut to
    `for_seconds`, so a test sees an alert fire and resolve in seconds (the expressions,
    labels and annotations are the committed ones). Returns the rules folder."""
    import yaml

    folder = out / "rules"
    folder.mkdir(parents=True, exist_ok=True)
    for path in (DEPLOY / "prometheus" / "rules").glob("*.yml"):
        doc = yaml.safe_load(path.read_text())
        for group in doc.get("groups", []):
            for rule in group["rules"]:
                if "alert" in rule and "for" in rule:
                    rule["for"] = f"{for_seconds}s"
        (folder / path.name).write_text(yaml.safe_dump(doc, sort_keys=False))
    return folder
