"""The API's Prometheus metrics (PRD §5.1, API): `endpoint` is the route's path template.
Several uvicorn workers share one `/metrics` through prometheus_client's multiprocess
mode (`services/api/main.py`)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter("api_requests", "API requests by endpoint and status.", ["endpoint", "status"])
LATENCY = Histogram("api_request_duration_seconds", "API request latency by endpoint, seconds.", ["endpoint"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 10))
RATE_LIMITED = Counter("api_rate_limit_exceeded", "Requests refused with 429 by an API key's rate limit.")
KEY_REQUESTS = Counter("api_key_requests", "Authenticated requests by API key name (the admin key: admin).", ["key"])
