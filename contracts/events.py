"""Job facts on the `JOBS` stream and object announcements on the `MINIO` stream.

Every fact is a `msgspec.Struct` tagged by `type` and carries `v`, the schema
version (bumped on an incompatible change; decoders accept every version they
know). Subjects (DESIGN.md, `contracts.subjects`): `jobs.<job_id>.<event>[.<task>][.p<NN>]`; announcements
of objects that exist in the bucket: `minio.announce.<origin>` (MinIO's own
bucket notifications arrive on `minio.events`, see `contracts.s3`).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec

from contracts.results import TaskResult, result_from_v1
from contracts.shapes import JobOptions, ObjectRef, OutputInfo, PlannedTask, Probe

__all__ = [
    "SCHEMA_VERSION",
    "JOB_ID_NAMESPACE",
    "Origin",
    "ObjectAnnounced",
    "JobEvent",
    "Received",
    "Ingested",
    "Rejected",
    "TaskStarted",
    "TaskProgress",
    "TaskCompleted",
    "TaskFailed",
    "Cancelled",
    "Deleted",
    "OriginalRemoved",
    "Replayed",
    "TranscriptLine",
    "TranscriptText",
    "TRANSCRIPT_PART_BYTES",
    "transcript_parts",
    "AnyJobEvent",
    "job_id_for",
    "msg_id_for",
    "announce_subject",
    "encode",
    "decode_job_event",
    "decode_announcement",
    "utcnow",
]

#: Version 2: `TaskCompleted` carries a typed `result` (version 1: untyped `details`).
SCHEMA_VERSION = 2

#: Namespace of the UUIDv5 job ids (fixed forever: changing it changes every id).
JOB_ID_NAMESPACE = uuid.UUID("6f1c0f4e-3b7a-5d2e-9a51-7c0b8e2d4f10")

#: Where an object announcement came from.
Origin = Literal["bucket", "inbox", "sweep", "api"]


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (every fact's `at`)."""
    return datetime.now(UTC)


class ObjectAnnounced(msgspec.Struct, frozen=True, kw_only=True, tag="object_announced", tag_field="type"):
    """"This object exists in the bucket": published by the drop folder, the sweep and the API."""

    v: int = SCHEMA_VERSION
    object: ObjectRef
    origin: Origin
    at: datetime


class JobEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Base of every job fact: schema version, job id (UUID text), time of the fact (UTC)."""

    v: int = SCHEMA_VERSION
    job_id: str
    at: datetime


class Received(JobEvent, frozen=True, tag="received"):
    """Ingest took an object announcement and is validating it (job status `validating`)."""

    source: ObjectRef
    origin: Origin


class Ingested(JobEvent, frozen=True, tag="ingested"):
    """The source is valid: its probe data, the submitter's metadata/options and the task plan."""

    source: ObjectRef
    origin: Origin
    probe: Probe
    user_metadata: dict[str, Any] = {}
    options: JobOptions = msgspec.field(default_factory=JobOptions)
    plan: list[PlannedTask] = []


class Rejected(JobEvent, frozen=True, tag="rejected"):
    """The source cannot be processed: a machine reason `code` and a human `message`.
    The original stays in the bucket untouched."""

    source: ObjectRef
    origin: Origin
    code: str
    message: str


class TaskStarted(JobEvent, frozen=True, tag="task_started"):
    """A worker began task `task` (attempt = JetStream delivery count; `epoch` = the run
    of the task it belongs to: 1, then one more per `replayed` that names the task)."""

    task: str
    attempt: int = 1
    worker: str = ""
    epoch: int = 1


class TaskProgress(JobEvent, frozen=True, tag="task_progress"):
    """Task progress: percent 0..100, speed (x real time), ETA in seconds."""

    task: str
    percent: float
    speed: float | None = None
    eta_seconds: float | None = None
    epoch: int = 1


class TaskCompleted(JobEvent, frozen=True, tag="task_completed"):
    """Task done: the objects it wrote, its typed `result` (`contracts.results`) and the
    seconds it took; `priority` is the job's (1..10, PRD FR-5.2), carried so the work this
    completion asks for (packaging) is taken in priority order. `v1_details` is the
    untyped `details` object of schema-1 facts: never written, turned into `result` when
    such a fact is decoded."""

    task: str
    outputs: list[OutputInfo] = []
    result: TaskResult | None = None
    seconds: float | None = None
    epoch: int = 1
    priority: int = 5
    v1_details: dict[str, Any] | msgspec.UnsetType = msgspec.field(default=msgspec.UNSET, name="details")


class TaskFailed(JobEvent, frozen=True, tag="task_failed"):
    """Task failed. `permanent`: it will not be retried and the job fails; otherwise it is
    retried in `retry_in_seconds` (when known)."""

    task: str
    code: str
    message: str
    permanent: bool = True
    attempt: int = 1
    retry_in_seconds: float | None = None
    epoch: int = 1


class TranscriptLine(msgspec.Struct, frozen=True, array_like=True):
    """One transcribed segment: start and end in seconds, its text (JSON `[start, end, text]`)."""

    start: float
    end: float
    text: str


#: Bytes of transcript text per `transcript_text` fact: far below JOBS' 1 MiB message limit.
TRANSCRIPT_PART_BYTES = 256 * 1024


class TranscriptText(JobEvent, frozen=True, tag="transcript_text"):
    """The words of a transcription, as facts, so the read model (search inside videos)
    is built by folding facts like everything else and a rebuild reproduces it.
    Published by the transcriber before its `task_completed`, in `parts` facts of at
    most `TRANSCRIPT_PART_BYTES` of text; part 0 replaces any earlier transcript of the
    job (a replay with another model or language)."""

    language: str
    lines: list[TranscriptLine]
    part: int = 0
    parts: int = 1
    task: str = "transcription"
    epoch: int = 1


def transcript_parts(job_id: str, at: datetime, language: str, lines: list[TranscriptLine],
                     epoch: int = 1) -> list[TranscriptText]:
    """`lines` cut into `TranscriptText` facts of at most `TRANSCRIPT_PART_BYTES` of text
    each (one fact, with no lines, for a silent source)."""
    chunks: list[list[TranscriptLine]] = [[]]
    size = 0
    for line in lines:
        n = len(line.text.encode()) + 32
        if chunks[-1] and size + n > TRANSCRIPT_PART_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(line)
        size += n
    return [TranscriptText(job_id=job_id, at=at, language=language, lines=chunk, part=i, parts=len(chunks),
                           epoch=epoch) for i, chunk in enumerate(chunks)]


class Cancelled(JobEvent, frozen=True, tag="cancelled"):
    """The job was cancelled (API `DELETE`): workers stop its work and remove its temp
    files; the job ends `cancelled`."""

    reason: str = ""
    by: str | None = None


class Deleted(JobEvent, frozen=True, tag="deleted"):
    """The job was deleted (`DELETE /api/jobs/{id}`; a running job is cancelled first):
    it leaves listings and its document answers 410. `files_deleted`: its outputs under
    `processed/<job>/` were removed from the store; `original_deleted`: its original in
    `raw/` too (only when the owner asked for it)."""

    files_deleted: bool = False
    original_deleted: bool = False
    by: str | None = None


class OriginalRemoved(JobEvent, frozen=True, tag="original_removed"):
    """The job's original was removed from `raw/` by retention (`TFLOW_API_SOURCE_RETENTION_DAYS`:
    an original the API uploaded, some days after its job finished); the job and its
    outputs stay (PRD §6.2)."""

    by: str | None = None


class Replayed(JobEvent, frozen=True, tag="replayed"):
    """A replay of the job (`tflow replay`, a dead letter re-driven): `tasks` run again,
    as `epoch` (one more than the job's last), through the normal consumers. `epochs` is
    the epoch every task of the plan must complete in from now on (cumulative over the
    job's replays: a task not named keeps its own); a completion of an older epoch no
    longer counts. `options` are the job's options from now on (e.g. another Whisper
    model or language for the transcription)."""

    epoch: int
    tasks: list[str]
    epochs: dict[str, int]
    options: JobOptions = msgspec.field(default_factory=JobOptions)
    reason: str = ""
    by: str | None = None

    def required(self, task: str) -> int:
        """The epoch `task` must complete in."""
        return self.epochs.get(task, 1)


AnyJobEvent = (Received | Ingested | Rejected | TaskStarted | TaskProgress | TaskCompleted | TaskFailed | Cancelled
               | Replayed | Deleted | TranscriptText | OriginalRemoved)


_job_decoder = msgspec.json.Decoder(AnyJobEvent)
_announce_decoder = msgspec.json.Decoder(ObjectAnnounced)
_encoder = msgspec.json.Encoder()


def job_id_for(ref: ObjectRef) -> str:
    """Deterministic job id: UUIDv5 of `bucket/key/ETag` (DESIGN: idempotent everywhere).

    The ETag, not the version id, is used because every announcer (MinIO's
    notification, the sweep's listing, the drop folder's upload) sees it, so the
    same object yields the same job whoever reports it.
    """
    return str(uuid.uuid5(JOB_ID_NAMESPACE, f"{ref.bucket}/{ref.key}/{ref.etag.strip(chr(34))}"))


def msg_id_for(event: JobEvent) -> str | None:
    """The `Nats-Msg-Id` that makes a republished fact a duplicate, or None for progress
    (every progress fact is new). Lifecycle facts: one per job; a replay: one per epoch;
    task facts: one per attempt of each epoch (the epoch only appears from 2 on, so the
    ids of jobs never replayed are those of schema 2)."""
    tag = type(event).__struct_config__.tag
    if isinstance(event, TaskProgress):
        return None
    run = f".e{event.epoch}" if isinstance(event, TaskStarted | TaskFailed | TaskCompleted) and event.epoch > 1 \
        else ""
    if isinstance(event, TaskStarted):
        return f"{event.job_id}.{tag}.{event.task}.{event.attempt}{run}"
    if isinstance(event, TaskFailed):  # a retry and the final failure of one attempt are two facts
        return f"{event.job_id}.{tag}.{event.task}.{event.attempt}.{'final' if event.permanent else 'retry'}{run}"
    if isinstance(event, TaskCompleted):
        return f"{event.job_id}.{tag}.{event.task}{run}"
    if isinstance(event, Replayed):
        return f"{event.job_id}.{tag}.{event.epoch}"
    if isinstance(event, TranscriptText):
        return f"{event.job_id}.{tag}.{event.part}" + (f".e{event.epoch}" if event.epoch > 1 else "")
    return f"{event.job_id}.{tag}"


def announce_subject(origin: Origin) -> str:
    """Subject of an object announcement from `origin`: `minio.announce.<origin>`."""
    return f"minio.announce.{origin}"


def encode(message: msgspec.Struct) -> bytes:
    """JSON bytes of any contract struct (tag included)."""
    return _encoder.encode(message)


def decode_job_event(data: bytes) -> AnyJobEvent:
    """Decode a JOBS fact of any known schema version (a version-1 `TaskCompleted` gets
    its typed `result` from its `details`). Raises `msgspec.ValidationError` /
    `msgspec.DecodeError` on bad input."""
    event = _job_decoder.decode(data)
    if isinstance(event, TaskCompleted) and event.v1_details is not msgspec.UNSET:
        result = event.result or result_from_v1(event.task, event.v1_details)
        return msgspec.structs.replace(event, result=result, v1_details=msgspec.UNSET)
    return event


def decode_announcement(data: bytes) -> ObjectAnnounced:
    """Decode an `ObjectAnnounced`. Raises `msgspec.ValidationError` / `msgspec.DecodeError`."""
    return _announce_decoder.decode(data)
