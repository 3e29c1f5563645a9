"""What a handler is given of one JetStream message."""

from __future__ import annotations

from dataclasses import dataclass

from contracts import job_of_subject


@dataclass(frozen=True)
class Delivery:
    """One message as a handler sees it: subject, payload, delivery attempt (1 = first),
    whether it is the last delivery (`max_deliver` reached) and the seconds before the
    next one should this attempt fail transiently."""

    subject: str
    data: bytes
    attempt: int = 1
    last: bool = False
    retry_in: float = 0.0

    @property
    def job_id(self) -> str | None:
        """The job id token of the subject (`contracts.job_of_subject`), else None."""
        return job_of_subject(self.subject)
