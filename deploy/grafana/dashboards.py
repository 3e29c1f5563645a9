"""The four Grafana dashboards of PRD §5.2, built with grafanalib.

`python deploy/grafana/dashboards.py` writes `deploy/grafana/dashboards/<uid>.json`, which
Grafana provisions (`deploy/grafana/provisioning/`); a unit test checks the committed
files are this script's output, and the native production test runs every panel's
PromQL against a live Prometheus. Metric names: `runtime/observability/metrics.py`,
`services/projector/gauges.py`, `services/api/metrics.py`, and the recording rules in
`deploy/prometheus/rules/recording.yml`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from grafanalib._gen import DashboardEncoder
from grafanalib.core import Dashboard, GridPos, Stat, Target, Time, TimeSeries

HERE = Path(__file__).resolve().parent
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
WORKERS = "transcoder|finalizer|thumbnailer|transcriber|ingest|notifier"


def _targets(*queries: tuple[str, str]) -> list[Target]:
    return [Target(expr=expr, legendFormat=legend, refId=chr(ord("A") + i), datasource=DATASOURCE)
            for i, (expr, legend) in enumerate(queries)]


def series(title: str, *queries: tuple[str, str], unit: str = "", x: int = 0, y: int = 0, w: int = 12,
           h: int = 8) -> TimeSeries:
    """A time series panel of `queries` (PromQL, legend) at grid position (x, y)."""
    return TimeSeries(title=title, dataSource=DATASOURCE, targets=_targets(*queries), unit=unit,
                      gridPos=GridPos(h=h, w=w, x=x, y=y))


def stat(title: str, *queries: tuple[str, str], unit: str = "", x: int = 0, y: int = 0, w: int = 6,
         h: int = 4) -> Stat:
    """A single-value panel."""
    return Stat(title=title, dataSource=DATASOURCE, targets=_targets(*queries), format=unit,
                gridPos=GridPos(h=h, w=w, x=x, y=y), reduceCalc="lastNotNull")


def _dashboard(uid: str, title: str, panels: list) -> Dashboard:
    return Dashboard(uid=uid, title=title, tags=["transcode-flow"], panels=panels, refresh="30s",
                     time=Time("now-24h", "now"), timezone="utc").auto_panel_ids()


def job_overview() -> Dashboard:
    """Dashboard 1: jobs processed, success rate, processing time by resolution, queue, workers."""
    done = 'sum(increase(transcode_jobs_total{status="completed"}[%s]))'
    return _dashboard("tflow-jobs", "Transcode Flow / Job overview", [
        stat("Jobs completed (24 h)", (done % "24h", "24 h"), x=0),
        stat("Jobs completed (7 d)", (done % "7d", "7 d"), x=6),
        stat("Jobs completed (30 d)", (done % "30d", "30 d"), x=12),
        stat("Success rate", ('sum(transcode_jobs_total{status="completed"}) / '
                              'clamp_min(sum(transcode_jobs_total{status=~"completed|failed"}), 1)', "completed"),
             unit="percentunit", x=18),
        series("Jobs by status", ("sum by (status) (transcode_jobs_total)", "{{status}}"), y=4),
        series("Queue size", ("transcode_jobs_queue_size", "jobs waiting or processing"), x=12, y=4),
        series("Average encode time by resolution",
               ("sum by (resolution) (increase(transcode_jobs_duration_seconds_sum[1h])) / "
                "sum by (resolution) (increase(transcode_jobs_duration_seconds_count[1h]))", "{{resolution}}"),
               unit="s", y=12),
        series("Landing to completed (p50, p95)",
               ("histogram_quantile(0.5, sum by (le) (rate(transcode_processing_time_seconds_bucket[1h])))", "p50"),
               ("histogram_quantile(0.95, sum by (le) (rate(transcode_processing_time_seconds_bucket[1h])))", "p95"),
               unit="s", x=12, y=12),
        series("Worker utilization", ("avg by (service) (transcode_worker_pool_utilization_percent)", "{{service}}"),
               unit="percent", y=20),
        series("Consumer lag (backlog + in flight)",
               ("sum by (consumer) (transcode_consumer_pending_messages + transcode_consumer_ack_pending)",
                "{{consumer}}"), x=12, y=20),
        series("Task duration p95", ("histogram_quantile(0.95, sum by (le, task) "
                                     "(rate(transcode_task_duration_seconds_bucket[1h])))", "{{task}}"),
               unit="s", y=28),
        series("ffmpeg and Whisper seconds per second",
               ("sum by (service) (rate(transcode_ffmpeg_seconds_total[5m]))", "ffmpeg {{service}}"),
               ("rate(transcode_whisper_seconds_total[5m])", "whisper"), x=12, y=28),
        series("Failures", ("sum by (service, kind) (increase(transcode_errors_total[1h]))", "{{service}} {{kind}}"),
               y=36),
        series("Read model lag and stalled tasks", ("tflow_projector_lag_facts", "facts not projected"),
               ("transcode_tasks_stalled", "stalled tasks"), x=12, y=36),
    ])


def system_performance() -> Dashboard:
    """Dashboard 2: CPU per core, memory, disk I/O, network, RAID, per-service processes."""
    return _dashboard("tflow-system", "Transcode Flow / System performance", [
        series("CPU per core", ('100 * (1 - rate(node_cpu_seconds_total{mode="idle"}[1m]))', "cpu {{cpu}}"),
               unit="percent"),
        series("Memory used", ("node_memory_usage_bytes", "used"), ("node_memory_MemTotal_bytes", "total"),
               unit="bytes", x=12),
        series("Disk I/O", ('node_disk_io_bytes{operation="read"}', "read"),
               ('node_disk_io_bytes{operation="write"}', "write"), unit="Bps", y=8),
        series("Network throughput", ('sum(rate(node_network_receive_bytes_total{device!="lo"}[1m]))', "in"),
               ('sum(rate(node_network_transmit_bytes_total{device!="lo"}[1m]))', "out"), unit="Bps", x=12, y=8),
        stat("RAID disks failed", ('sum(node_md_disks{state="failed"}) or vector(0)', "failed disks"), y=16),
        stat("Disk used", ("max(node_disk_usage_percent)", "fullest filesystem"), unit="percent", x=6, y=16),
        series("CPU by service", ("sum by (service) (process_cpu_percent)", "{{service}}"), unit="percent", y=20),
        series("Memory by service", ("sum by (service) (process_memory_bytes)", "{{service}}"), unit="bytes",
               x=12, y=20),
    ])


def storage_analytics() -> Dashboard:
    """Dashboard 3: bucket size, input vs output, growth rate, objects."""
    return _dashboard("tflow-storage", "Transcode Flow / Storage analytics", [
        series("Stored bytes by kind", ("tflow_storage_bytes", "{{kind}}"), unit="bytes"),
        stat("Output / input", ('sum(tflow_storage_bytes{kind="output"}) / '
                                'clamp_min(sum(tflow_storage_bytes{kind="input"}), 1)', "ratio"), x=12),
        stat("Bytes in (1 h)", ("sum(increase(transcode_input_bytes_total[1h]))", "sources"), unit="bytes", x=18),
        series("Storage growth", ("sum(deriv(tflow_storage_bytes[1h]))", "bytes/s"), unit="Bps", y=8),
        series("Bytes written by output", ("sum by (resolution) (increase(transcode_output_bytes_total[1h]))",
                                           "{{resolution}}"), unit="bytes", x=12, y=8),
        series("MinIO capacity", ("sum(minio_cluster_capacity_usable_total_bytes)", "usable"),
               ("sum(minio_cluster_capacity_usable_free_bytes)", "free"), unit="bytes", y=16),
        series("MinIO traffic", ("sum(rate(minio_s3_traffic_received_bytes[5m]))", "received"),
               ("sum(rate(minio_s3_traffic_sent_bytes[5m]))", "sent"), unit="Bps", x=12, y=16),
        series("Facts in streams", ("tflow_stream_messages", "{{stream}}"), y=24),
    ])


def api_analytics() -> Dashboard:
    """Dashboard 4: requests per second, latency percentiles, errors by endpoint, rate limits, key usage."""
    quantile = "histogram_quantile(%s, sum by (le) (rate(api_request_duration_seconds_bucket[5m])))"
    return _dashboard("tflow-api", "Transcode Flow / API analytics", [
        series("Requests per second", ("sum(rate(api_requests_total[1m]))", "all"),
               ("sum by (endpoint) (rate(api_requests_total[1m]))", "{{endpoint}}"), unit="reqps"),
        series("Latency", (quantile % "0.5", "p50"), (quantile % "0.95", "p95"), (quantile % "0.99", "p99"),
               unit="s", x=12),
        series("Errors by endpoint", ('sum by (endpoint, status) (rate(api_requests_total{status=~"[45].."}[5m]))',
                                      "{{status}} {{endpoint}}"), unit="reqps", y=8),
        stat("Rate limit violations (24 h)", ("sum(increase(api_rate_limit_exceeded_total[24h]))", "429"), x=12, y=8),
        series("Requests by API key", ("sum by (key) (rate(api_key_requests_total[5m]))", "{{key}}"), unit="reqps",
               y=16),
    ])


DASHBOARDS = (job_overview, system_performance, storage_analytics, api_analytics)


def render() -> dict[str, str]:
    """`{file name: JSON}` of every dashboard."""
    out = {}
    for build in DASHBOARDS:
        dash = build()
        out[f"{dash.uid}.json"] = json.dumps(dash.to_json_data(), cls=DashboardEncoder, indent=2, sort_keys=True) + "\n"
    return out


def main() -> int:
    folder = HERE / "dashboards"
    folder.mkdir(exist_ok=True)
    for name, text in render().items():
        (folder / name).write_text(text)
        print(f"wrote {folder / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
