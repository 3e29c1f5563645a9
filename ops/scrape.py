"""Where Prometheus finds each service's /metrics under `tflow up`: one loopback port per
service (the API serves /metrics on its own port), listed in Prometheus's file_sd format."""

from __future__ import annotations

import json
from pathlib import Path

from runtime.settings import Settings
from services import SERVICES


def _free_port() -> int:
    from ops.stack import free_port

    return free_port()


def metrics_ports(settings: Settings, services: tuple[str, ...]) -> dict[str, int]:
    """The /metrics port of each service but the API (which serves /metrics itself):
    `metrics_port_base + n` for the n-th of `SERVICES`, or free ports when the base is 0."""
    return {name: (settings.metrics.port_base + SERVICES.index(name) if settings.metrics.port_base else _free_port())
            for name in services if name != "api"}


PROMETHEUS_TARGETS = "prometheus/targets.json"


def write_metrics_targets(settings: Settings, ports: dict[str, int]) -> Path:
    """`<data_dir>/prometheus/targets.json`: every service's /metrics endpoint (the API's
    included) in Prometheus's file_sd format, labelled `service`, for a Prometheus on this
    host (`deploy/prometheus/prometheus.native.yml`). Returns its path."""
    targets = [{"targets": [f"{settings.metrics.host}:{port}"], "labels": {"service": name}}
               for name, port in ports.items()]
    targets.append({"targets": [f"{settings.api.host}:{settings.api.port}"], "labels": {"service": "api"}})
    path = settings.data_dir / PROMETHEUS_TARGETS
    path.parent.mkdir(mode=0o700, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(targets, indent=2) + "\n")
    tmp.replace(path)  # file_sd reads whole files: never a half-written one
    return path
