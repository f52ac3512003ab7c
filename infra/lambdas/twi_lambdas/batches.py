"""Coalesced requests: which uploads go together, and the batch input object submit writes
for them and complete reads back.

A GPU request costs the same overhead whether it carries a 5-second voice note or an hour,
so short uploads that arrive in one SQS batch are packed (``twi_contract.pack_batch``) into
``async-input/batches/<batch id>`` and sent as one InvokeEndpointAsync request, whose
windows the endpoint decodes together. The answer names each member by its own inference
id, and complete records each as if it had been sent alone.

Every member keeps its own claim (``twi_lambdas.inputs``), the in-flight marker the
reconciler reads, which names the batch. The batch input's user metadata lists the
members: what complete needs when the request failed as a whole and left no answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from botocore.exceptions import ClientError
from twi_contract import BATCH_CONTENT_TYPE, BatchItem, pack_batch

from twi_lambdas import names
from twi_lambdas.inputs import PinnedUpload
from twi_lambdas.store import head_or_none, is_not_found, is_precondition_failed

BATCH_ID_PREFIX = "batch-"
_BATCH_HASH_CHARS = 40  # "batch-" + 40 = 46 characters: within InvokeEndpointAsync's 64
_Item = TypeVar("_Item")


def plan(
    items: Sequence[_Item], size: Callable[[_Item], int], max_files: int, max_bytes: int
) -> list[list[_Item]]:
    """``items`` in arrival order, cut into groups of at most ``max_files`` and ``max_bytes``:
    a group closes when the next item would take it over either limit."""
    groups: list[list[_Item]] = []
    group: list[_Item] = []
    total = 0
    for item in items:
        if group and (len(group) >= max_files or total + size(item) > max_bytes):
            groups.append(group)
            group, total = [], 0
        group.append(item)
        total += size(item)
    if group:
        groups.append(group)
    return groups


def batch_id(member_ids: Iterable[str]) -> str:
    """The same members, the same id, whatever their order: a request sent twice is one id."""
    digest = hashlib.sha256("\n".join(sorted(member_ids)).encode()).hexdigest()
    return f"{BATCH_ID_PREFIX}{digest[:_BATCH_HASH_CHARS]}"


def input_key(batch: str) -> str:
    return f"{names.BATCH_INPUT_PREFIX}{batch}"


def read_member(s3: Any, bucket: str, upload: PinnedUpload, etag: str) -> bytes | None:
    """The bytes of the exact version submit validated; None when the upload was replaced or
    deleted since (its claim is then released, as a single upload's would be)."""
    version = {"VersionId": upload.version_id} if upload.version_id else {}
    try:
        response = s3.get_object(Bucket=bucket, Key=upload.key, IfMatch=f'"{etag}"', **version)
    except ClientError as exc:
        if is_precondition_failed(exc) or is_not_found(exc):
            return None
        raise
    return bytes(response["Body"].read())


def write_input(s3: Any, bucket: str, batch: str, items: Sequence[BatchItem]) -> str:
    """Pack ``items`` into the batch input and return its key; its metadata lists the members."""
    key = input_key(batch)
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=pack_batch(items),
        ContentType=BATCH_CONTENT_TYPE,
        Metadata={names.META_BATCH_MEMBERS: " ".join(item.id for item in items)},
    )
    return key


def members(s3: Any, bucket: str, key: str) -> list[str] | None:
    """The inference ids packed into the batch input at ``key``; None when it is gone (every
    member's outcome already recorded, or expired)."""
    head = head_or_none(s3, bucket, key)
    if head is None:
        return None
    return str((head.get("Metadata") or {}).get(names.META_BATCH_MEMBERS, "")).split()


def delete_input(s3: Any, bucket: str, key: str) -> None:
    """Once no member needs it any more (sent, or every outcome recorded). Idempotent."""
    s3.delete_object(Bucket=bucket, Key=key)
