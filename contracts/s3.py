"""MinIO's S3 bucket notification (the `Records[]` JSON MinIO publishes to NATS).

Facts from MinIO's source that shape this decoder:
- `Records[].s3.object.key` is URL query-escaped (`+` for space): decode with
  `urllib.parse.unquote_plus`.
- An `--event put` rule also fires for PutTagging/PutRetention/PutLegalHold,
  so only object *creation* events are accepted (`ACCEPTED_EVENTS`).
- MinIO sets no `Nats-Msg-Id`: ingest dedupes by job id itself.
"""

from __future__ import annotations

from urllib.parse import unquote_plus

import msgspec

from contracts.shapes import ObjectRef

__all__ = ["ACCEPTED_EVENTS", "S3Notification", "S3Record", "decode_s3_notification", "created_objects"]

#: Object-creation event names that start a job (AWS/MinIO event names).
ACCEPTED_EVENTS = frozenset(
    {
        "s3:ObjectCreated:Put",
        "s3:ObjectCreated:Post",
        "s3:ObjectCreated:CompleteMultipartUpload",
        "s3:ObjectCreated:Copy",
    }
)


class S3Bucket(msgspec.Struct):
    name: str


class S3Object(msgspec.Struct, rename="camel"):
    key: str
    size: int = 0
    e_tag: str = msgspec.field(default="", name="eTag")
    version_id: str | None = msgspec.field(default=None, name="versionId")
    content_type: str | None = msgspec.field(default=None, name="contentType")


class S3Entity(msgspec.Struct):
    bucket: S3Bucket
    object: S3Object


class S3Record(msgspec.Struct, rename="camel"):
    """One `Records[]` entry: event name (`s3:ObjectCreated:Put`, ...) and the object."""

    event_name: str
    s3: S3Entity
    event_time: str | None = None


class S3Notification(msgspec.Struct, rename={"records": "Records", "event_name": "EventName", "key": "Key"}):
    """A MinIO notification message: `Records[]` plus MinIO's `EventName` / `Key` summary."""

    records: list[S3Record] = []
    event_name: str | None = None
    key: str | None = None


_decoder = msgspec.json.Decoder(S3Notification)


def decode_s3_notification(data: bytes) -> S3Notification:
    """Decode MinIO's notification JSON. Raises `msgspec.DecodeError`/`ValidationError` on bad input."""
    return _decoder.decode(data)


def created_objects(note: S3Notification) -> list[tuple[str, ObjectRef]]:
    """`(event_name, ObjectRef)` for every record; keys URL-decoded, ETag quotes stripped.

    Callers filter on `ACCEPTED_EVENTS` and on the prefix; nothing is dropped here so
    that ignored events can be counted.
    """
    out = []
    for rec in note.records:
        obj = rec.s3.object
        ref = ObjectRef(
            bucket=rec.s3.bucket.name,
            key=unquote_plus(obj.key),
            etag=obj.e_tag.strip('"'),
            size=obj.size,
            version_id=obj.version_id or None,
        )
        out.append((rec.event_name, ref))
    return out
