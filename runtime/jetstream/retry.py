"""Which deliveries are worth retrying, and when (PRD FR-4.2: retries from minutes up to a
cap; DESIGN: "Retryable failures `nak` with backoff; permanent ones (bad input) `term`").

The consumer loop knows one permanent failure: `Permanent`, raised by a handler whose
message can never succeed (it published the failure fact first). Everything else is
retried with the delays below until `max_deliver`. Which errors a handler calls permanent
(the input's, or a bug of ours) and which it lets be retried (the machine's: the store,
the database, NATS, the disk, a stalled task) is one table,
`runtime.worker.failures`.
"""

from __future__ import annotations

from collections.abc import Sequence

#: Default delays before the 2nd, 3rd, ... delivery, in seconds; the last one repeats
#: (10 s, 30 s, 1, 2 and 5 min, then 5 min: with `max_deliver` 8, ~19 min of outage ridden out).
RETRY_DELAYS_SECONDS = (10.0, 30.0, 60.0, 120.0, 300.0)


class Permanent(Exception):
    """The message can never succeed (bad input, nothing to work on): it is `term`ed
    after the handler's failure callback published a failure fact."""


def retry_delay(attempt: int, delays: Sequence[float] = RETRY_DELAYS_SECONDS) -> float:
    """Seconds to wait before redelivering a message whose delivery `attempt` (1 = the
    first) failed: `delays[attempt - 1]`, the last entry once past the end."""
    if not delays:
        return 0.0
    return float(delays[min(max(attempt, 1), len(delays)) - 1])
