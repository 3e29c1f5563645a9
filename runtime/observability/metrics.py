"""Prometheus metrics shared by the services, and the per-service metrics server.

Names follow PRD §5.1 where a metric there applies (`transcode_*`, `api_*`); the
project's own carry `tflow_`. Who exports what (README, Production):

- every worker: `transcode_worker_tasks_active`, `..._processed_total`,
  `..._pool_utilization_percent`, task durations (`transcode_task_duration_seconds`,
  `transcode_jobs_duration_seconds{resolution}`), bytes out, ffmpeg / Whisper seconds,
  errors — counted from the facts it publishes (`observe_fact`);
- ingest: `transcode_input_bytes_total`;
- the projector: jobs by status, queue size, processing time, consumer lag per durable,
  read-model lag (`services/projector/gauges.py`);
- the API: `api_requests_total`, `api_request_duration_seconds`,
  `api_rate_limit_exceeded_total` (`services/api/routes/ops.py`).
"""

from __future__ import annotations

import logging

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from contracts import AnyJobEvent, Ingested, Rejected, TaskCompleted, TaskFailed, layout

MESSAGES = Counter(
    "tflow_messages_total",
    "Messages a consumer finished, by outcome (ack, nak, term, ignored, duplicate).",
    ["service", "outcome"],
)
HANDLE_SECONDS = Histogram(
    "tflow_handle_seconds",
    "Seconds a consumer spent on one message.",
    ["service"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800),
)
EVENTS_PUBLISHED = Counter("tflow_events_published_total", "Facts published, by type.", ["service", "type"])
SET_ASIDE = Counter("tflow_projection_set_aside_total",
                    "Facts the projector could not apply and set aside (projection_failures).")
DEAD_LETTERS = Counter("tflow_dead_letters_total",
                       "Messages given up on (JetStream advisories in the DLQ stream), by stream, consumer and kind "
                       "(max_deliveries, terminated).", ["stream", "consumer", "kind"])

#: Seconds, from a thumbnail (0.1 s) to a long encode (2 h).
TASK_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200)

# --- PRD §5.1: workers ---------------------------------------------------------
TASKS_ACTIVE = Gauge("transcode_worker_tasks_active", "Messages a service is working on now.", ["service"])
TASKS_PROCESSED = Counter("transcode_worker_tasks_processed", "Messages a service finished, by outcome "
                          "(ack, nak, term).", ["service", "outcome"])
POOL_UTILIZATION = Gauge("transcode_worker_pool_utilization_percent", "Busy share of a service's consumer "
                         "loops now, percent.", ["service"])
TASK_SECONDS = Histogram("transcode_task_duration_seconds", "Seconds one task took, by service and task.",
                         ["service", "task"], buckets=TASK_BUCKETS)
# --- PRD §5.1: processing ------------------------------------------------------
JOB_SECONDS = Histogram("transcode_jobs_duration_seconds", "Seconds the encode of one rendition took.",
                        ["resolution"], buckets=TASK_BUCKETS)
INPUT_BYTES = Counter("transcode_input_bytes", "Bytes of the sources accepted.")
OUTPUT_BYTES = Counter("transcode_output_bytes", "Bytes of the outputs written, by rendition (360p, 720p) or "
                       "kind (audio, hls_360p, thumbnails, transcript, metadata).", ["resolution"])
PROCESSING_SECONDS = Histogram("transcode_processing_time_seconds", "Seconds from a job's landing to its "
                               "completion (observed by the projector).", buckets=TASK_BUCKETS)
FFMPEG_SECONDS = Counter("transcode_ffmpeg_seconds", "Wall seconds of tasks run by ffmpeg.", ["service"])
WHISPER_SECONDS = Counter("transcode_whisper_seconds", "Wall seconds of Whisper transcriptions.")
ERRORS = Counter("transcode_errors", "Failures: task_failed facts (retryable or permanent) and rejected "
                 "sources.", ["service", "kind"])

#: Services whose tasks are ffmpeg runs.
DISK_FREE = Gauge("tflow_disk_free_bytes", "Bytes free on the filesystem of a service's work dir (the API: its "
                  "upload spool), read before each task and while waiting for space.", ["service"])
DISK_WAITING = Gauge("tflow_disk_waiting", "1 while a service holds its work because its disk is full.", ["service"])
FFMPEG_SERVICES = frozenset({"transcoder", "thumbnailer"})


def output_label(task: str) -> str:
    """The `resolution` label of a task's outputs: `360p` for `video_360p`, else the task
    name (`audio`, `hls_720p`, `thumbnails`, `transcription`, `metadata`)."""
    rendition = layout.rendition_task(task)
    return rendition[1] if rendition is not None and rendition[0] == "video" else task


def observe_fact(service: str, event: AnyJobEvent) -> None:
    """Count what fact `event`, published by `service`, says was done (see module doc)."""
    if isinstance(event, TaskCompleted):
        label = output_label(event.task)
        OUTPUT_BYTES.labels(label).inc(sum(o.size_bytes for o in event.outputs))
        seconds = event.seconds or 0.0
        TASK_SECONDS.labels(service, event.task).observe(seconds)
        if label != event.task:
            JOB_SECONDS.labels(label).observe(seconds)
        if service in FFMPEG_SERVICES:
            FFMPEG_SECONDS.labels(service).inc(seconds)
        elif service == "transcriber":
            WHISPER_SECONDS.inc(seconds)
    elif isinstance(event, TaskFailed):
        ERRORS.labels(service, "task_failed_permanent" if event.permanent else "task_failed_retryable").inc()
    elif isinstance(event, Ingested):
        INPUT_BYTES.inc(event.source.size)
    elif isinstance(event, Rejected):
        ERRORS.labels(service, "rejected").inc()


class LoopLoad:
    """The busy share of one service's task consumer loops (a loop works one message at a
    time): `add_loop` when a loop starts, `busy`/`idle` around each message; keeps
    `transcode_worker_tasks_active` and `..._pool_utilization_percent` current."""

    def __init__(self) -> None:
        self.loops: dict[str, int] = {}
        self.active: dict[str, int] = {}

    def add_loop(self, service: str, n: int = 1) -> None:
        self.loops[service] = max(0, self.loops.get(service, 0) + n)
        self._publish(service)

    def busy(self, service: str) -> None:
        self.active[service] = self.active.get(service, 0) + 1
        self._publish(service)

    def idle(self, service: str, outcome: str) -> None:
        self.active[service] = max(0, self.active.get(service, 0) - 1)
        TASKS_PROCESSED.labels(service, outcome).inc()
        self._publish(service)

    def _publish(self, service: str) -> None:
        active, loops = self.active.get(service, 0), self.loops.get(service, 0)
        TASKS_ACTIVE.labels(service).set(active)
        POOL_UTILIZATION.labels(service).set(round(100.0 * min(active, loops) / loops, 1) if loops else 0.0)


#: This process's consumer loops.
LOAD = LoopLoad()


def serve_metrics(port: int | None, host: str = "127.0.0.1") -> None:
    """Start the /metrics HTTP server on host:port (loopback by default); no-op when port
    is None. A port taken by another process is logged, not fatal: the service works
    on without metrics rather than crash-looping."""
    if not port:
        return
    try:
        start_http_server(port, addr=host)
    except OSError as e:
        logging.getLogger(__name__).error("no /metrics: cannot listen on %s:%s (%s)", host, port, e)
