"""Idempotent, newest-upload-wins writes of result objects.

SQS and SNS deliver at least once, and a re-upload races its own older result, so every
``transcripts/`` and ``failed/`` object carries a revision in its user metadata: the order
of the upload it comes from (S3's event ``sequencer``) and an id (the inference id). Results
are ordered by upload, never by completion: a long recording overwritten by a short one
finishes last, yet the short one's transcript stays. A write

- creates the object only if absent (``If-None-Match: *``);
- otherwise reads the revision already there: the same revision is a duplicate (nothing
  to do), a newer one wins (nothing to do), an older one is replaced with ``If-Match`` on
  its ETag so that a concurrent writer can never be silently overwritten.

S3 (and moto 5.2.5) support both conditional headers on PutObject.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from botocore.exceptions import ClientError

from twi_lambdas import names
from twi_lambdas.errors import Transient
from twi_lambdas.runtime import logger

_MAX_ATTEMPTS = 5  # conditional-write races before giving up (the message is retried)


SEQUENCER_WIDTH = 32  # hex digits; S3's sequencers are shorter (16-18 today)


def upload_order(sequencer: str | None) -> str:
    """S3's ``sequencer`` in a form whose string order is the order of the events on a key.

    S3 documents how to compare two: right-pad the shorter with zeros, then compare
    lexicographically. Padding every one to a fixed width does exactly that. Unknown (no
    sequencer): "", which sorts before every known upload.
    """
    return sequencer.strip().upper().ljust(SEQUENCER_WIDTH, "0") if sequencer and sequencer.strip() else ""


@dataclass(frozen=True, order=True)
class Revision:
    order: str  # upload_order(): string order is upload order
    id: str

    def metadata(self) -> dict[str, str]:
        return {names.META_REVISION_ORDER: self.order, names.META_REVISION_ID: self.id}

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> Revision | None:
        order = metadata.get(names.META_REVISION_ORDER)
        rid = metadata.get(names.META_REVISION_ID)
        return cls(order, rid) if order is not None and rid is not None else None


class WriteOutcome(Enum):
    WRITTEN = "written"  # created or replaced an older revision
    DUPLICATE = "duplicate"  # the same revision is already there
    STALE = "stale"  # a newer revision is already there


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def is_not_found(exc: ClientError) -> bool:
    return _error_code(exc) in ("404", "NoSuchKey", "NotFound") or _status(exc) == 404


def is_precondition_failed(exc: ClientError) -> bool:
    # 412 PreconditionFailed; 409 ConditionalRequestConflict when two conditional writes race
    return _error_code(exc) in ("PreconditionFailed", "ConditionalRequestConflict") or _status(exc) in (
        409,
        412,
    )


def head_or_none(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """HeadObject's answer, or None when there is no such object (any other error raises)."""
    try:
        return dict(s3.head_object(Bucket=bucket, Key=key))
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise


def head_revision(s3: Any, bucket: str, key: str) -> tuple[Revision | None, str] | None:
    """(revision, etag) of an existing object, or None when there is none."""
    head = head_or_none(s3, bucket, key)
    if head is None:
        return None
    return Revision.from_metadata(head.get("Metadata") or {}), str(head["ETag"])


def put_if_newer(
    s3: Any, bucket: str, key: str, body: bytes, content_type: str, revision: Revision
) -> WriteOutcome:
    """Write ``body`` unless this or a newer revision is already at ``key``."""
    for _ in range(_MAX_ATTEMPTS):
        existing = head_revision(s3, bucket, key)
        condition: dict[str, str]
        if existing is None:
            condition = {"IfNoneMatch": "*"}
        else:
            current, etag = existing
            if current == revision:
                return WriteOutcome.DUPLICATE
            if current is not None and current > revision:
                logger.info("not replacing s3://%s/%s: it holds a newer result (%s)", bucket, key, current)
                return WriteOutcome.STALE
            condition = {"IfMatch": etag}  # an older revision (or a foreign object): replace it
        try:
            s3.put_object(
                Bucket=bucket,
                Key=key,
                Body=body,
                ContentType=content_type,
                Metadata=revision.metadata(),
                **condition,
            )
        except ClientError as exc:
            if is_precondition_failed(exc):
                continue  # someone wrote in between: look again
            raise
        return WriteOutcome.WRITTEN
    raise Transient(f"s3://{bucket}/{key} kept changing during {_MAX_ATTEMPTS} conditional writes")


def delete_unless_newer(s3: Any, bucket: str, key: str, revision: Revision) -> bool:
    """Remove a ``failed/`` record once a success of the same or a newer upload exists.
    Best effort: a record that changed in between is left alone (it is then newer, and true)."""
    existing = head_revision(s3, bucket, key)
    if existing is None:
        return False
    current, _etag = existing
    if current is not None and current.order > revision.order:
        return False
    s3.delete_object(Bucket=bucket, Key=key)
    return True
