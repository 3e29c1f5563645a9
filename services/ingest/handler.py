"""ingest's consumer: announcements on the MINIO stream -> `received`, then `ingested` or
`rejected` on JOBS.

Dedupe: the job id is UUIDv5(bucket/key/ETag); an object whose job already has an
`ingested` or `rejected` fact is skipped (MinIO sets no `Nats-Msg-Id`, and the sweep
may announce an object long after its notification), and every fact carries a
`Nats-Msg-Id` so concurrent replicas publish it once.
"""

from __future__ import annotations

import asyncio
import logging

import msgspec

from contracts import (
    ACCEPTED_EVENTS,
    Ingested,
    ObjectRef,
    Origin,
    Received,
    Rejected,
    Submission,
    created_objects,
    decode_announcement,
    decode_s3_notification,
    job_id_for,
    layout,
    utcnow,
)
from intake.submission import (
    MAX_METADATA_DEPTH,
    MetadataError,
    UnknownModel,
    check_metadata,
    check_model,
    check_text,
    json_depth,
    text_problem,
)
from intake.submit import ORIGIN_METADATA
from intake.validation import Rejection, judge_source, plan_tasks
from media.whisper_models import installed_names
from runtime.jetstream.delivery import Delivery
from runtime.jetstream.retry import Permanent
from runtime.observability.metrics import MESSAGES
from runtime.settings import Settings
from runtime.storage.objects import Objects
from runtime.worker.facts import Facts, verdict
from runtime.worker.failures import classify
from services.ingest import NAME

#: The code of the `rejected` fact of an object ingest gave up on (not a verdict on it).
GAVE_UP = "ingest_failed"
log = logging.getLogger(__name__)
SERVICE = NAME


def announced_objects(subject: str, data: bytes, bucket: str) -> tuple[list[tuple[Origin, ObjectRef]], int]:
    """`(origin, ref)` of every object in a MINIO-stream message that should become a job,
    and how many records were ignored (other bucket, prefix or event type).
    Raises `Permanent` for an undecodable message."""
    try:
        if subject.startswith("minio.announce."):
            a = decode_announcement(data)
            found = [(a.origin, a.object, "s3:ObjectCreated:Put")]
        else:
            found = [("bucket", ref, name) for name, ref in created_objects(decode_s3_notification(data))]
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise Permanent(f"undecodable announcement on {subject}: {e}") from e
    keep = [(o, r) for o, r, name in found
            if name in ACCEPTED_EVENTS and r.bucket == bucket and r.key.startswith(layout.RAW_PREFIX)
            and not r.key.endswith("/")]
    return keep, len(found) - len(keep)


def checked_submission(raw: bytes | None, max_bytes: int, installed: list[str] | None = None) -> Submission:
    """The submission sidecar `raw` (None: none), decoded only after its nesting is measured,
    its user metadata checked like the API's (`check_metadata`: depth, Postgres-safe text,
    finite numbers) and every option string checked too, its `whisper_model` one of `installed`
    (when given; `UnknownModel`). Raises ValueError (`MetadataError`),
    `msgspec.DecodeError`, `msgspec.ValidationError`."""
    if raw is None:
        return Submission()
    if json_depth(raw, MAX_METADATA_DEPTH + 2) > MAX_METADATA_DEPTH + 2:
        raise MetadataError(f"nests deeper than {MAX_METADATA_DEPTH} levels of user metadata")
    submission = msgspec.json.decode(raw, type=Submission)
    check_metadata(submission.user_metadata, max_bytes)
    for name, value in msgspec.structs.asdict(submission.options).items():
        if isinstance(value, str):
            check_text(value, f"option {name}")
    if installed is not None:
        check_model(submission.options.whisper_model, installed)
    return submission


def submitter(origin: Origin, metadata: dict[str, str]) -> Origin:
    """Who submitted the object: for a bucket event or a sweep, the drop folder or the API
    when its user metadata's `origin` says so (`intake.submit`: the store's event often beats
    their own announcement), else `origin` as announced."""
    if origin not in ("bucket", "sweep"):
        return origin
    claimed = metadata.get(ORIGIN_METADATA)
    return "inbox" if claimed == "inbox" else "api" if claimed == "api" else origin


class Ingest:
    """The ingest handler; `examine` is blocking (store + PyAV) and runs in a thread."""

    def __init__(self, settings: Settings, facts: Facts, objects: Objects):
        self.settings, self.facts, self.objects = settings, facts, objects

    async def handle(self, delivery: Delivery) -> None:
        """Consumer callback: one MINIO-stream message, any number of records."""
        refs, ignored = announced_objects(delivery.subject, delivery.data, self.settings.s3.bucket)
        if ignored:
            MESSAGES.labels(SERVICE, "ignored").inc(ignored)
        for origin, ref in refs:
            await self.ingest(origin, ref)

    async def on_failure(self, delivery: Delivery, error: BaseException) -> None:
        """Last delivery failed: a `rejected` fact for every object of the message."""
        try:
            refs, _ = announced_objects(delivery.subject, delivery.data, self.settings.s3.bucket)
        except Permanent:
            MESSAGES.labels(SERVICE, "undecodable").inc()
            log.error("dropping undecodable message on %s: %s", delivery.subject, error)
            return
        why = f"Ingest gave up after its retries: {classify(error).reason}"
        for origin, ref in refs:
            await self.facts.publish(Rejected(job_id=job_id_for(ref), at=utcnow(), source=ref, origin=origin,
                                              code=GAVE_UP, message=why))

    async def ingest(self, origin: Origin, ref: ObjectRef) -> None:
        """Turn one object into `received` + `ingested`/`rejected` (skips known jobs)."""
        job_id = job_id_for(ref)
        known = await verdict(self.facts, job_id)
        if known is not None and not (isinstance(known, Rejected) and known.code == GAVE_UP):
            MESSAGES.labels(SERVICE, "duplicate").inc()
            return  # judged already (a give-up is no judgement: a re-drive examines it anew)
        found = await self.objects.head(ref.bucket, ref.key)
        origin = submitter(origin, found[1] if found else {})
        await self.facts.publish(Received(job_id=job_id, at=utcnow(), source=ref, origin=origin))
        fact = await self.examine(job_id, origin, ref, found[0] if found else None)
        new = await self.facts.publish(fact)
        log.info("%s %s (%s)%s", type(fact).__struct_config__.tag, ref.key, job_id,
                 f": {fact.code}: {fact.message}" if isinstance(fact, Rejected) else "")
        if not new:
            MESSAGES.labels(SERVICE, "duplicate").inc()

    async def examine(self, job_id: str, origin: Origin, ref: ObjectRef, current: ObjectRef | None
                      ) -> Ingested | Rejected:
        """Read the submission sidecar, probe in place (a presigned URL; PyAV in a thread),
        validate; `current` is the object as the store has it now (None: gone). Store errors
        propagate (retried); bad input becomes `Rejected`."""

        def reject(code: str, message: str) -> Rejected:
            return Rejected(job_id=job_id, at=utcnow(), source=ref, origin=origin, code=code, message=message)

        if current is None:
            return reject("source_missing", f"{ref.key} is no longer in bucket {ref.bucket}")
        if problem := text_problem(ref.key):
            return reject("invalid_name", f"the object key {problem}")
        try:
            raw = await self.objects.read(ref.bucket, layout.meta_key(ref.key),
                                          self.settings.intake.max_metadata_bytes * 2)
            submission = checked_submission(raw, self.settings.intake.max_metadata_bytes,
                                            installed_names(self.settings.whisper.model_dir))
        except UnknownModel as e:
            return reject("unknown_model", f"Submission sidecar {layout.meta_key(ref.key)}: {e}.")
        except (ValueError, msgspec.DecodeError, msgspec.ValidationError) as e:
            return reject("invalid_metadata", f"submission sidecar {layout.meta_key(ref.key)}: {e}")
        try:
            probe = await asyncio.to_thread(judge_source, self.objects.url(ref.bucket, ref.key), current.size,
                                            self.settings.intake)
        except Rejection as r:
            return reject(r.code, r.message)
        return Ingested(job_id=job_id, at=utcnow(), source=ref, origin=origin, probe=probe,
                        user_metadata=submission.user_metadata, options=submission.options,
                        plan=plan_tasks(probe, submission.options, self.settings.media.transcription))

