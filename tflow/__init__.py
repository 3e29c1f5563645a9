"""Shared runtime of Transcode Flow: settings, NATS, object store, database, logging, metrics, CLI."""

from pathlib import Path

#: The repository root: `nats/` (JetStream definitions) and `db/migrations/` live here.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
