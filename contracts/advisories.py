"""JetStream's consumer advisories that make a dead letter (NATS docs, "Monitoring
JetStream: Advisories"): `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<consumer>`
when a message reached the consumer's `max_deliver` without an ack (the worker died or
hung on its last delivery) and `$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.<stream>.<consumer>`
when a worker gave up on it (`term`). The `DLQ` stream captures both
(`contracts/nats/streams/DLQ.json`)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

__all__ = ["MAX_DELIVERIES", "TERMINATED", "DLQ_STREAM", "Advisory", "decode_advisory", "advisory_subjects"]

MAX_DELIVERIES = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES"
TERMINATED = "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED"
DLQ_STREAM = "DLQ"

Kind = Literal["io.nats.jetstream.advisory.v1.max_deliver", "io.nats.jetstream.advisory.v1.terminated"]


class Advisory(msgspec.Struct, frozen=True, kw_only=True):
    """One advisory as nats-server writes it: which message (`stream`, `stream_seq`) of
    which consumer, after how many deliveries; `reason` for a terminated one."""

    type: Kind
    id: str
    timestamp: datetime
    stream: str
    consumer: str
    stream_seq: int
    deliveries: int
    consumer_seq: int | None = None
    reason: str | None = None

    @property
    def kind(self) -> str:
        """`max_deliveries` or `terminated`."""
        return "max_deliveries" if self.type.endswith("max_deliver") else "terminated"


_decoder = msgspec.json.Decoder(Advisory)


def decode_advisory(data: bytes) -> Advisory:
    """Decode an advisory. Raises `msgspec.DecodeError` / `ValidationError` on anything else."""
    return _decoder.decode(data)


def advisory_subjects(stream: str, consumer: str) -> list[str]:
    """Both advisory subjects of one consumer."""
    return [f"{MAX_DELIVERIES}.{stream}.{consumer}", f"{TERMINATED}.{stream}.{consumer}"]
