"""Writing a benchmark's figures: printed, and JSON in bench/results/<name>-<time>.json."""

from __future__ import annotations

import json
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def write_results(name: str, results: dict) -> Path:
    """Print `results` and write them to `bench/results/<name>-<UTC time>.json`."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{name}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    print(f"written to {out}")
    return out
