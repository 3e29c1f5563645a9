"""Every message of Transcode Flow: msgspec structs in one tagged union, with their subjects.

Import from here: `from contracts import Ingested, encode, decode_job_event, subject_for`.
"""

from contracts.events import *  # noqa: F401,F403
from contracts.events import __all__ as _events_all
from contracts.s3 import *  # noqa: F401,F403
from contracts.s3 import __all__ as _s3_all

__all__ = [*_events_all, *_s3_all]
