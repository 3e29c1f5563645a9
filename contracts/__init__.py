"""Every message of Transcode Flow: msgspec structs in one tagged union, with their
subjects; typed task results; the object layout; the MinIO S3 event decoder; JetStream's
advisories of dead letters.
JetStream stream and consumer definitions are package data under `contracts/nats/`.

Import from here: `from contracts import Ingested, encode, decode_job_event, subject_for`.
"""

from importlib.resources import files
from importlib.resources.abc import Traversable

from contracts import layout, prd
from contracts.advisories import *  # noqa: F403
from contracts.advisories import __all__ as _advisories_all
from contracts.events import *  # noqa: F403
from contracts.events import __all__ as _events_all
from contracts.results import *  # noqa: F403
from contracts.results import __all__ as _results_all
from contracts.s3 import *  # noqa: F403
from contracts.s3 import __all__ as _s3_all
from contracts.shapes import *  # noqa: F403
from contracts.shapes import __all__ as _shapes_all
from contracts.subjects import *  # noqa: F403
from contracts.subjects import __all__ as _subjects_all

#: `streams/*.json` and `consumers/<STREAM>/*.json`: the JSON `nats stream add --config`
#: and `nats consumer add --config` take, shipped inside the package.
NATS_DEFINITIONS: Traversable = files("contracts") / "nats"

__all__ = [*_events_all, *_subjects_all, *_shapes_all, *_results_all, *_s3_all, *_advisories_all, "layout", "prd",
           "NATS_DEFINITIONS"]
