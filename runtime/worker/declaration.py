"""A service, declared once: the durable consumers it reads, the subjects it publishes,
what else it runs, and its handlers (the way FastStream declares subscribers).

From one `Service` the project derives:

- its JetStream consumer definitions: `Consumer.definition()` is the JSON of
  `contracts/nats/consumers/<STREAM>/<durable>.json` (the files `nats consumer add
  --config` takes, written by `tflow definitions --write` and checked by a test), and the
  dead-letter consumer of each (`DLQ/dead_<durable>.json`);
- its NATS role: the subjects it may publish and subscribe to (`ops.natsauth`);
- its process: `Service.main()` (`python -m services.<name>`, `tflow run <name>`).

Handlers and serve functions are named by zero-argument functions that import them, so
a declaration is cheap to import (the composition root reads every one) and importing it
does not load a service's heavy dependencies (faster-whisper, PyAV).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from contracts.advisories import DLQ_STREAM

if TYPE_CHECKING:
    from runtime.worker.runner import Companion, HandlerFactory

#: `serve(settings, stop)`: a service's whole work until `stop` (`runtime.worker.service.Serve`).
Serve = Callable[[Any, asyncio.Event], Awaitable[None]]
NANOS = 1_000_000_000


@dataclass(frozen=True)
class Consumer:
    """One durable pull consumer of a service (JetStream `ConsumerConfig` terms): the
    stream and durable name, what it is for, its filter subjects, `ack_wait` (seconds:
    workers heartbeat, so it stays short), `max_deliver`, `max_ack_pending`, how it splits
    on the server (`"priority"`: ten bands, `"partition"`: `partitions` consumers;
    `runtime.jetstream.definitions`), and the handler that takes its messages."""

    stream: str
    durable: str
    description: str
    filter_subjects: tuple[str, ...]
    handler: Callable[[], HandlerFactory]
    ack_wait_seconds: float = 10.0
    max_deliver: int = 8
    max_ack_pending: int = 16
    split: str | None = None
    partitions: int | None = None

    def definition(self) -> dict[str, Any]:
        """The consumer's JSON definition (nats CLI / JetStream API field names)."""
        doc: dict[str, Any] = {"durable_name": self.durable, "description": self.description,
                               "deliver_policy": "all", "ack_policy": "explicit",
                               "ack_wait": int(self.ack_wait_seconds * NANOS), "max_deliver": self.max_deliver,
                               "max_ack_pending": self.max_ack_pending}
        if len(self.filter_subjects) == 1:
            doc["filter_subject"] = self.filter_subjects[0]
        else:
            doc["filter_subjects"] = list(self.filter_subjects)
        doc["replay_policy"] = "instant"
        if self.split == "priority":
            doc["metadata"] = {"tflow_split": "priority"}
        elif self.split == "partition":
            doc["metadata"] = {"tflow_split": "partition", "tflow_partitions": str(self.partitions)}
        return doc

    @property
    def dead_durable(self) -> str:
        """The durable following this consumer's dead letters (`DLQ/dead_<durable>`)."""
        return f"dead_{self.durable}"

    def dead_letter_definition(self) -> dict[str, Any]:
        """The DLQ consumer of this consumer's JetStream advisories (max deliveries, terms)."""
        return {"durable_name": self.dead_durable,
                "description": f"{self.durable}'s dead letters: a failure fact for every message it gave up on "
                               "or that exhausted max_deliver",
                "deliver_policy": "all", "ack_policy": "explicit", "ack_wait": 30 * NANOS, "max_deliver": 8,
                "max_ack_pending": 16,
                "filter_subjects": [f"$JS.EVENT.ADVISORY.CONSUMER.{kind}.{self.stream}.{self.durable}"
                                    for kind in ("MAX_DELIVERIES", "MSG_TERMINATED")],
                "replay_policy": "instant"}


@dataclass(frozen=True)
class Service:
    """One service: `name` (also its NATS user), its `consumers`, the subjects it
    `publishes` besides the facts of its `tasks` (`task_started/progress/completed/failed`),
    whether it follows cancellations (`cancels`), reads JOBS with an ordered consumer
    (`ordered_reader`, the projector), inspects streams and consumers (`monitor`), runs at
    lower CPU priority (`background`), and what it runs besides its consumers
    (`companions`: the drop folder and sweep of ingest) — or, for a service that is not
    made of consumers, its own `serve` or process `entry` (the API's uvicorn)."""

    name: str
    consumers: tuple[Consumer, ...] = ()
    publishes: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()
    cancels: bool = False
    ordered_reader: bool = False
    monitor: bool = False
    background: bool = False
    companions: Callable[[], tuple[Companion, ...]] | None = None
    serve: Callable[[], Serve] | None = None
    entry: Callable[[], Callable[[], None]] | None = None

    @property
    def dead_letter_consumers(self) -> tuple[tuple[str, str], ...]:
        """`(stream, durable)` of the DLQ consumer of each of its consumers."""
        return tuple((DLQ_STREAM, c.dead_durable) for c in self.consumers)

    def main(self) -> None:
        """The process: `entry` when given; else `run_service` with `serve`, or with the
        consumer loops of `consumers` (and `companions`) on JetStream and the store."""
        if self.entry is not None:
            self.entry()()
            return
        from runtime.worker.runner import serve_service
        from runtime.worker.service import run_service

        serve = self.serve() if self.serve is not None else (
            lambda settings, stop: serve_service(self, settings, stop))
        run_service(self.name, serve, background=self.background)
