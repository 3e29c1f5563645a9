"""Which failures are worth retrying, and when (PRD FR-4.2: retries from minutes up to a
cap; DESIGN: "Retryable failures `nak` with backoff; permanent ones (bad input) `term`").

Transient: the store, the database or NATS unavailable (connection errors, timeouts,
5xx), ffmpeg killed by a signal (out of memory, the watchdog) or unable to reach its
input over the network, a stalled or overlong task. Permanent: `Permanent`, and ffmpeg
refusing the media itself (it exited with an error and named no network cause). Anything
else (a bug, an unexpected library error) is retried: it may be caused by the
environment, and `max_deliver` bounds it.
"""

from __future__ import annotations

from collections.abc import Sequence

from media.run import FfmpegError
from tflow.facts import Permanent

#: Default delays before the 2nd, 3rd, ... delivery, in seconds; the last one repeats
#: (10 s, 30 s, 1, 2 and 5 min, then 5 min: with `max_deliver` 8, ~19 min of outage ridden out).
RETRY_DELAYS_SECONDS = (10.0, 30.0, 60.0, 120.0, 300.0)

#: What ffmpeg says when its input or output is unreachable rather than invalid.
_NETWORK_MARKERS = ("connection refused", "connection reset", "connection timed out", "timed out",
                    "network is unreachable", "no route to host", "broken pipe", "server returned 5",
                    "server returned 404", "server returned 403", "i/o error", "input/output error",
                    "no such file or directory", "end of file", "cannot allocate memory")


def is_permanent(error: BaseException) -> bool:
    """Whether `error` can never succeed on a retry (see the module's rules)."""
    if isinstance(error, Permanent):
        return True
    if isinstance(error, FfmpegError):
        if error.returncode < 0:  # killed by a signal: out of memory, a watchdog, a stop
            return False
        said = error.stderr.lower()
        return not any(marker in said for marker in _NETWORK_MARKERS)
    return False


def retry_delay(attempt: int, delays: Sequence[float] = RETRY_DELAYS_SECONDS) -> float:
    """Seconds to wait before redelivering a message whose delivery `attempt` (1 = the
    first) failed: `delays[attempt - 1]`, the last entry once past the end."""
    if not delays:
        return 0.0
    return float(delays[min(max(attempt, 1), len(delays)) - 1])
