"""Every service's declaration (`runtime.worker.declaration.Service`), by name, and what
the composition root derives from them: the JetStream consumer files of
`contracts/nats/consumers/` (`tflow definitions`)."""

from __future__ import annotations

import json
from pathlib import Path

from contracts.advisories import DLQ_STREAM
from runtime.worker.declaration import Service
from services import SERVICES
from services.api import SERVICE as API
from services.finalizer import SERVICE as FINALIZER
from services.ingest import SERVICE as INGEST
from services.notifier import SERVICE as NOTIFIER
from services.projector import SERVICE as PROJECTOR
from services.thumbnailer import SERVICE as THUMBNAILER
from services.transcoder import SERVICE as TRANSCODER
from services.transcriber import SERVICE as TRANSCRIBER

#: The declarations, in `services.SERVICES` order (the order `tflow up` starts them).
DECLARED: dict[str, Service] = {s.name: s for s in sorted(
    (PROJECTOR, INGEST, TRANSCODER, FINALIZER, THUMBNAILER, TRANSCRIBER, NOTIFIER, API),
    key=lambda s: SERVICES.index(s.name))}

#: Where the consumer files live in the checkout (package data of `contracts`).
CONSUMERS_DIR = Path(__file__).resolve().parents[1] / "contracts" / "nats" / "consumers"


def consumer_files() -> dict[str, str]:
    """`{"<STREAM>/<durable>.json": text}`: every declared consumer's definition and its
    dead-letter consumer's, as `tflow definitions --write` stores them."""
    files = {}
    for service in DECLARED.values():
        for c in service.consumers:
            files[f"{c.stream}/{c.durable}.json"] = json.dumps(c.definition(), indent=2) + "\n"
            files[f"{DLQ_STREAM}/{c.dead_durable}.json"] = json.dumps(c.dead_letter_definition(), indent=2) + "\n"
    return files


def write_consumer_files(root: Path = CONSUMERS_DIR) -> list[str]:
    """Rewrite `root/<STREAM>/*.json` from the declarations, removing files no declaration
    makes. Returns the names written."""
    files = consumer_files()
    for old in root.glob("*/*.json"):
        if f"{old.parent.name}/{old.name}" not in files:
            old.unlink()
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    return sorted(files)
