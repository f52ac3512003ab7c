"""The pinned input: a copy of the exact upload version the endpoint transcribes.

SageMaker's ``InputLocation`` names a key, not a version: an upload overwritten while its
request waits would be read as the newer bytes under the older request. So submit copies the
version it validated to ``async-input/uploads/<inference id>`` (the id is derived from bucket,
key, version and ETag) and the endpoint reads that copy.

The copy is also the in-flight marker. Submit first *claims* its key with an empty object
written ``If-None-Match: *``: a second delivery of the same S3 event (or a retry after a
Lambda timeout) finds the claim and submits nothing, so the GPU never does the same work
twice. The claim is released when the invocation fails, and the copy is deleted by complete
once the outcome is recorded; the reconciler clears a claim that never led to an outcome.
Its user metadata names the upload (key, version, order), which is how complete maps a
result back to ``audio/<path>``, statelessly.

An upload sent in a coalesced request (``twi_lambdas.batches``) keeps its claim, left empty:
the bytes travel in the batch input, and the claim names the batch it joined, so that only
that request's notification records or re-sends it.
"""

from __future__ import annotations

from base64 import urlsafe_b64decode, urlsafe_b64encode
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from twi_lambdas import names
from twi_lambdas.store import head_or_none, is_not_found, is_precondition_failed


@dataclass(frozen=True)
class PinnedUpload:
    """What a pinned input says about the upload it was copied from."""

    key: str  # audio/<path>
    version_id: str | None
    order: str  # store.upload_order() of its S3 event
    batch_id: str | None = None  # the coalesced request it was sent in, if any


def input_key(inference_id: str) -> str:
    return f"{names.UPLOAD_INPUT_PREFIX}{inference_id}"


def _metadata(upload: PinnedUpload) -> dict[str, str]:
    return {
        # base64: user metadata is ASCII and at most 2 KB; a 1024-byte key takes 1368 characters
        names.META_SOURCE_KEY: urlsafe_b64encode(upload.key.encode()).decode("ascii"),
        names.META_SOURCE_VERSION: upload.version_id or "",
        names.META_UPLOAD_ORDER: upload.order,
        **({names.META_BATCH_ID: upload.batch_id} if upload.batch_id else {}),
    }


def claim(s3: Any, bucket: str, inference_id: str, upload: PinnedUpload) -> bool:
    """True if this call now owns the request; False if it is already claimed (in flight)."""
    try:
        s3.put_object(
            Bucket=bucket, Key=input_key(inference_id), Body=b"", Metadata=_metadata(upload), IfNoneMatch="*"
        )
    except ClientError as exc:
        if is_precondition_failed(exc):
            return False
        raise
    return True


def copy_version(
    s3: Any, bucket: str, inference_id: str, upload: PinnedUpload, etag: str, content_type: str
) -> bool:
    """Fill the claimed key with the upload's bytes; False if the upload changed meanwhile."""
    source: dict[str, str] = {"Bucket": bucket, "Key": upload.key}
    if upload.version_id:
        source["VersionId"] = upload.version_id
    try:
        s3.copy_object(
            Bucket=bucket,
            Key=input_key(inference_id),
            CopySource=source,
            CopySourceIfMatch=f'"{etag}"',
            MetadataDirective="REPLACE",
            Metadata=_metadata(upload),
            ContentType=content_type,
        )
    except ClientError as exc:
        if is_precondition_failed(exc) or is_not_found(exc):
            return False
        raise
    return True


def join_batch(s3: Any, bucket: str, inference_id: str, upload: PinnedUpload) -> None:
    """Rewrite this call's own claim to name ``upload.batch_id``, the request it is sent in."""
    s3.put_object(Bucket=bucket, Key=input_key(inference_id), Body=b"", Metadata=_metadata(upload))


def release(s3: Any, bucket: str, inference_id: str) -> None:
    """Drop the claim or the copy (a failed invocation, a recorded outcome). Idempotent."""
    s3.delete_object(Bucket=bucket, Key=input_key(inference_id))


def read(s3: Any, bucket: str, key: str) -> PinnedUpload | None:
    """The upload behind the pinned input at ``key``; None when it is gone (already recorded,
    or expired) or carries no source."""
    head = head_or_none(s3, bucket, key)
    if head is None:
        return None
    metadata = head.get("Metadata") or {}
    source = metadata.get(names.META_SOURCE_KEY)
    if not source:
        return None
    return PinnedUpload(
        urlsafe_b64decode(source.encode("ascii")).decode(),
        metadata.get(names.META_SOURCE_VERSION) or None,
        metadata.get(names.META_UPLOAD_ORDER, ""),
        metadata.get(names.META_BATCH_ID) or None,
    )
