"""Prometheus metrics shared by the services, and the per-service metrics server."""

from __future__ import annotations

from prometheus_client import Counter, Histogram, start_http_server

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


def serve_metrics(port: int | None, host: str = "127.0.0.1") -> None:
    """Start the /metrics HTTP server on host:port (loopback by default); no-op when port is None."""
    if port:
        start_http_server(port, addr=host)
SET_ASIDE = Counter("tflow_projection_set_aside_total",
                    "Facts the projector could not apply and set aside (projection_failures).")
DEAD_LETTERS = Counter("tflow_dead_letters_total",
                       "Messages given up on (JetStream advisories in the DLQ stream), by stream, consumer and kind "
                       "(max_deliveries, terminated).", ["stream", "consumer", "kind"])
