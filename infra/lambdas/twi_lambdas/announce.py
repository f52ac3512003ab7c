"""Announcing an upload again: the way back into the normal path for an upload that must be
submitted once more.

Copying the upload onto itself (its bytes, type and metadata kept, one metadata entry added)
makes S3 send a fresh ObjectCreated event with a real sequencer, so submit takes it from
there and the newest-upload-wins order of its results holds. Two callers:

- the reconciler, for an upload that got no outcome (``names.META_RECONCILED``);
- complete, for each member of a coalesced request that failed as a whole
  (``names.META_ALONE``, which makes submit send it on its own).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from twi_lambdas.runtime import logger
from twi_lambdas.store import head_or_none, is_not_found, is_precondition_failed


def announce_again(s3: Any, bucket: str, key: str, etag: str, mark: Mapping[str, str]) -> bool:
    """Copy ``key`` onto itself with ``mark`` added to its metadata, while it still holds the
    bytes with ``etag``. False when it does not (replaced or deleted): a newer upload wins,
    and its own event submits it.

    The copy names the key, not a version, with ``CopySourceIfMatch``: an older version is
    never copied over a newer upload.
    """
    head = head_or_none(s3, bucket, key)
    if head is None or str(head["ETag"]).strip('"') != etag:
        return False
    extra = {"ContentType": head["ContentType"]} if head.get("ContentType") else {}
    try:
        s3.copy_object(
            Bucket=bucket,
            Key=key,
            CopySource={"Bucket": bucket, "Key": key},
            CopySourceIfMatch=f'"{etag}"',
            MetadataDirective="REPLACE",
            Metadata={**(head.get("Metadata") or {}), **mark},
            **extra,
        )
    except ClientError as exc:
        if is_precondition_failed(exc) or is_not_found(exc):
            return False
        raise
    logger.info("s3://%s/%s announced again (%s)", bucket, key, ", ".join(mark))
    return True
