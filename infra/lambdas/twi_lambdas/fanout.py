"""A coalesced request's notification, fanned out into one outcome per file.

The endpoint answers a coalesced request (``twi_lambdas.batches``) with one item per member,
named by the member's own inference id: ``{"items": [{"id", "result"} | {"id", "error"}],
"metadata": {...}}``. Each member is mapped back to its upload through its claim and recorded
exactly as a request of its own would be (``twi_lambdas.recording``): a result as its
transcript, with its own metrics; an error as its ``failed/`` record; then its claim is
released. A member whose claim is gone or names another request is accounted for already:
a redelivered notification writes nothing twice.

When the request failed as a whole (a timeout, a crashed container), or its answer leaves a
member out, no member may fail because of another: each is announced again
(``twi_lambdas.announce``) marked to be sent on its own, and gets its own outcome from there.

Once every member is settled the batch input is deleted; until then (a member to retry) it
stays, as the list of members the retry works through.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from twi_contract import BatchKeys

from twi_lambdas import batches, inputs, names
from twi_lambdas.announce import announce_again
from twi_lambdas.errors import Transient
from twi_lambdas.events import STATUS_FAILED, AsyncNotification, format_time
from twi_lambdas.recording import (
    CompleteResult,
    ResultContext,
    describe_source,
    read_output,
    record,
    record_endpoint_failure,
    record_transcript,
    result_context,
    retry_later,
)
from twi_lambdas.runtime import logger
from twi_lambdas.settings import Settings

SENT_ALONE = "sent alone"


class _Answer:
    """The request's ``.out``, read once, as member id -> its item; a member it leaves out
    (or an answer without items) has none."""

    def __init__(self, s3: Any, notification: AsyncNotification) -> None:
        self._s3 = s3
        self._notification = notification
        self._items: dict[str, Any] | None = None

    def item(self, member: str) -> Any:
        if self._items is None:
            self._items = _items_of(read_output(self._s3, str(self._notification.output_location)))
        return self._items.get(member)


def _items_of(document: Any) -> dict[str, Any]:
    items = document.get(BatchKeys.ITEMS) if isinstance(document, dict) else None
    if not isinstance(items, list):
        logger.warning("the coalesced request's answer has no '%s' list: its files go alone", BatchKeys.ITEMS)
        return {}
    return {
        str(item[BatchKeys.ID]): item for item in items if isinstance(item, dict) and BatchKeys.ID in item
    }


def complete_batch(
    notification: AsyncNotification, settings: Settings, s3: Any, bucket: str, input_key: str
) -> CompleteResult:
    batch = input_key.removeprefix(names.BATCH_INPUT_PREFIX)
    members = batches.members(s3, bucket, input_key)
    if members is None:
        logger.info(
            "ignoring result for %s: its batch input is gone (outcomes already recorded, or expired)",
            notification.input_location,
        )
        return CompleteResult("duplicate", detail="batch input gone")
    failed = notification.status == STATUS_FAILED
    if failed:
        logger.warning(
            "coalesced request %s of %d files failed (%s): each is sent again on its own",
            batch,
            len(members),
            notification.failure_reason or "no reason given",
        )
    answer = _Answer(s3, notification)
    settled: Counter[str] = Counter()
    retry: list[Transient] = []
    for member in members:
        upload = inputs.read(s3, bucket, inputs.input_key(member))
        if upload is None or upload.batch_id != batch:
            settled["accounted for"] += 1  # recorded by an earlier copy of this notification
            continue
        ctx = result_context(notification, settings, s3, bucket, upload, member, batch)
        if ctx is None:
            settled["ignored"] += 1  # not an upload of this stack's bucket
            continue
        try:
            settled[_send_alone(ctx, member) if failed else _settle(ctx, member, answer)] += 1
        except (Transient, ClientError, BotoCoreError) as exc:  # the others go on regardless
            retry.append(exc if isinstance(exc, Transient) else Transient(f"{member}: {exc}"))
    if retry:
        raise Transient.of_all(retry)
    batches.delete_input(s3, bucket, input_key)
    detail = ", ".join(f"{count} {status}" for status, count in sorted(settled.items()))
    logger.info("coalesced request %s: %s", batch, detail)
    return CompleteResult("fanned out", detail=detail)


def _settle(ctx: ResultContext, member: str, answer: _Answer) -> str:
    """One member's item recorded (its claim released), or the member sent alone if the
    answer has none for it."""

    def outcome(c: ResultContext) -> CompleteResult:
        item = answer.item(member)
        if item is None:
            return CompleteResult(SENT_ALONE)
        if BatchKeys.ERROR in item:
            return record_endpoint_failure(c, str(item[BatchKeys.ERROR]))
        return record_transcript(c, item.get(BatchKeys.RESULT))

    result = record(ctx, outcome)
    if result.status == SENT_ALONE:
        logger.warning("the answer to %s has no item for %s", ctx.job.batch_id, member)
        return _send_alone(ctx, member)
    inputs.release(ctx.s3, ctx.source.bucket, member)
    return result.status


def _send_alone(ctx: ResultContext, member: str) -> str:
    """Announce the member's upload again, marked to be sent on its own, then release its
    claim; a newer upload under its key is left to its own event.

    Announced first, released after: a failure in between leaves the claim, and the retry
    announces again (at worst a second request for the same bytes, never none).
    """
    s3, bucket, key = ctx.s3, ctx.source.bucket, ctx.source.key
    try:
        source = describe_source(s3, bucket, key, member)
        announced = (
            not source.replaced
            and source.etag is not None
            and announce_again(s3, bucket, key, source.etag, {names.META_ALONE: _now()})
        )
        inputs.release(s3, bucket, member)
    except (Transient, ClientError, BotoCoreError) as exc:
        label = f"{ctx.notification.input_location} ({key})"
        raise retry_later(ctx, "could not be sent again on its own", exc, label) from exc
    return SENT_ALONE if announced else "replaced"


def _now() -> str:
    return format_time(datetime.now(UTC))
