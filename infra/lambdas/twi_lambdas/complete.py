"""Lambda ``complete``: SageMaker async notification (SNS -> SQS) -> result files in S3.

Success: read the endpoint's ``.out``, write ``transcripts/<path>.srt``, ``.vtt`` and,
last, ``.json``. Failure: write ``failed/<path>.json`` with the endpoint's reason. Both
emit CloudWatch metrics in Embedded Metric Format (``twi_lambdas.recording``). Stateless: the
notification's ``inputLocation`` and ``inferenceId`` are all the correlation there is. A
coalesced request's notification is fanned out into one outcome per file
(``twi_lambdas.fanout``).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import ClientError

from twi_lambdas import fanout, inputs, keys, names
from twi_lambdas.aws import s3_client
from twi_lambdas.errors import Poison
from twi_lambdas.events import STATUS_FAILED, AsyncNotification, parse_async_notification
from twi_lambdas.inputs import PinnedUpload
from twi_lambdas.recording import (
    CompleteResult,
    ResultContext,
    read_output,
    read_s3_uri,
    record,
    record_endpoint_failure,
    record_transcript,
    result_context,
)
from twi_lambdas.runtime import logger, process_batch, tracer
from twi_lambdas.settings import Settings, load_settings

MAX_ERROR_DETAIL_CHARS = 2000  # of the endpoint's error body, copied into failed/ records


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    settings = load_settings()
    s3 = s3_client()
    return process_batch(event, context, lambda record: complete_message(record, settings, s3))


def complete_message(record: SQSRecord, settings: Settings, s3: Any) -> CompleteResult:
    notification = parse_async_notification(record.body)
    if notification is None:
        logger.info("ignoring the endpoint's TestNotification (message %s)", record.message_id)
        return CompleteResult("ignored", detail="TestNotification")
    return complete_notification(notification, settings, s3)


def complete_notification(notification: AsyncNotification, settings: Settings, s3: Any) -> CompleteResult:
    try:
        bucket, input_key = keys.parse_s3_uri(notification.input_location)
    except ValueError as exc:
        raise Poison(str(exc)) from None
    if input_key.startswith(names.BATCH_INPUT_PREFIX):
        return fanout.complete_batch(notification, settings, s3, bucket, input_key)
    upload = _upload_of(s3, bucket, input_key)
    if upload is None:
        logger.info(
            "ignoring result for %s: its pinned input is gone (outcome already recorded, or expired)",
            notification.input_location,
        )
        return CompleteResult("duplicate", detail="pinned input gone")
    ctx = result_context(notification, settings, s3, bucket, upload, notification.inference_id)
    if ctx is None:
        # a direct InvokeEndpointAsync call on some other input: its caller reads the .out
        logger.info(
            "ignoring result for %s: not an upload under %s", notification.input_location, names.AUDIO_PREFIX
        )
        return CompleteResult("ignored", detail="not an upload of this stack")
    if notification.status == STATUS_FAILED:
        outcome = record(ctx, _record_endpoint_failure)
    else:
        outcome = record(
            ctx, lambda c: record_transcript(c, read_output(c.s3, str(notification.output_location)))
        )
    if input_key.startswith(names.UPLOAD_INPUT_PREFIX):  # the outcome is recorded: not in flight
        inputs.release(s3, bucket, input_key.removeprefix(names.UPLOAD_INPUT_PREFIX))
    return outcome


def _upload_of(s3: Any, bucket: str, input_key: str) -> PinnedUpload | None:
    """The upload a request was for: from its pinned input's metadata, or the input itself
    when it was submitted straight from ``audio/`` (no order known)."""
    if input_key.startswith(names.UPLOAD_INPUT_PREFIX):
        return inputs.read(s3, bucket, input_key)
    return PinnedUpload(input_key, None, "")


def _record_output(ctx: ResultContext) -> CompleteResult:
    return record_transcript(ctx, read_output(ctx.s3, str(ctx.notification.output_location)))


def _record_endpoint_failure(ctx: ResultContext) -> CompleteResult:
    notification = ctx.notification
    detail = None
    if notification.failure_location:  # the model's own error body, when SageMaker kept one
        try:
            raw = read_s3_uri(ctx.s3, notification.failure_location)
            detail = raw[:MAX_ERROR_DETAIL_CHARS].decode("utf-8", errors="replace")
        except (ClientError, ValueError) as exc:
            logger.warning("could not read %s: %s", notification.failure_location, exc)
    return record_endpoint_failure(ctx, notification.failure_reason or "no reason given", detail)
