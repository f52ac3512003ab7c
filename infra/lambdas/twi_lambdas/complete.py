"""Lambda ``complete``: SageMaker async notification (SNS -> SQS) -> result files in S3.

Success: read the endpoint's ``.out``, write ``transcripts/<path>.srt``, ``.vtt`` and,
last, ``.json`` (the JSON is what users and tools wait for, so it appears only once its
subtitles exist). Failure: write ``failed/<path>.json`` with the endpoint's reason. Both
emit CloudWatch metrics in Embedded Metric Format. Stateless: the notification's
``inputLocation`` and ``inferenceId`` are all the correlation there is.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import BotoCoreError, ClientError
from twi_contract import MetadataKeys, ResultKeys

from twi_lambdas import inputs, keys, names, subtitles
from twi_lambdas.aws import s3_client
from twi_lambdas.errors import Poison, Rejected, Transient
from twi_lambdas.events import STATUS_FAILED, AsyncNotification, parse_async_notification
from twi_lambdas.ids import etag_of
from twi_lambdas.inputs import PinnedUpload
from twi_lambdas.results import (
    JSON_CONTENT_TYPE,
    SRT_CONTENT_TYPE,
    VTT_CONTENT_TYPE,
    Job,
    Source,
    failed_document,
    to_json_bytes,
    transcript_document,
    validate_endpoint_result,
)
from twi_lambdas.runtime import emit, logger, process_batch, tracer
from twi_lambdas.settings import Settings, load_settings
from twi_lambdas.store import (
    Revision,
    WriteOutcome,
    delete_unless_newer,
    head_revision,
    is_not_found,
    put_if_newer,
)

MAX_ERROR_DETAIL_CHARS = 2000  # of the endpoint's error body, copied into failed/ records


@dataclass(frozen=True)
class CompleteResult:
    status: str  # "transcribed", "failed", "duplicate", "stale", "ignored"
    key: str | None = None  # the result object written (or that already held this result)
    detail: str = ""


@dataclass(frozen=True)
class ResultContext:
    """Where one notification's result files go, and what they say about their origin."""

    notification: AsyncNotification
    s3: Any
    bucket: str  # of the results
    path: str  # the upload's <path> below audio/
    source: Source
    job: Job
    revision: Revision
    settings: Settings


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
    upload = _upload_of(s3, bucket, input_key)
    if upload is None:
        logger.info(
            "ignoring result for %s: its pinned input is gone (outcome already recorded, or expired)",
            notification.input_location,
        )
        return CompleteResult("duplicate", detail="pinned input gone")
    key = upload.key
    path = keys.audio_path(key)
    if path is None or (settings.bucket_name is not None and bucket != settings.bucket_name):
        # a direct InvokeEndpointAsync call on some other input: its caller reads the .out
        logger.info(
            "ignoring result for %s: not an upload under %s", notification.input_location, names.AUDIO_PREFIX
        )
        return CompleteResult("ignored", detail="not an upload of this stack")
    results_bucket = settings.bucket_name or bucket
    completed_at = notification.event_time or datetime.now(UTC)
    job = Job(
        inference_id=notification.inference_id,
        endpoint=notification.endpoint_name,
        submitted_at=notification.received_time,
        completed_at=completed_at,
        output_location=notification.output_location,
    )
    revision = Revision(
        upload.order, notification.inference_id or notification.output_location or notification.input_location
    )
    source = Source(bucket, key, etag=etag_of(notification.inference_id))
    ctx = ResultContext(notification, s3, results_bucket, path, source, job, revision, settings)
    try:
        ctx = replace(ctx, source=describe_source(s3, bucket, key, notification.inference_id))
        if notification.status == STATUS_FAILED:
            outcome = _record_endpoint_failure(ctx)
        else:
            outcome = _record_success(ctx)
    except Rejected as exc:
        if _superseded(ctx):
            outcome = CompleteResult("stale", keys.transcript_key(path), exc.reason)
        else:
            written = _write_failed(ctx, exc.reason, exc.stage)
            _emit_failure(ctx)
            outcome = CompleteResult("failed", keys.failed_key(path), f"{exc.reason} ({written.value})")
    except (Transient, ClientError, BotoCoreError) as exc:
        error = str(exc)

        def give_up(attempts: int) -> None:
            reason = f"the transcript could not be stored after {attempts} attempts: {error}"
            _write_failed(ctx, reason, "complete")

        raise Transient(f"{notification.input_location}: {error}", give_up) from exc
    if input_key.startswith(names.UPLOAD_INPUT_PREFIX):  # the outcome is recorded: not in flight
        inputs.release(s3, bucket, input_key.removeprefix(names.UPLOAD_INPUT_PREFIX))
    return outcome


def _upload_of(s3: Any, bucket: str, input_key: str) -> PinnedUpload | None:
    """The upload a request was for: from its pinned input's metadata, or the input itself
    when it was submitted straight from ``audio/`` (no order known)."""
    if input_key.startswith(names.UPLOAD_INPUT_PREFIX):
        return inputs.read(s3, bucket, input_key)
    return PinnedUpload(input_key, None, "")


def describe_source(s3: Any, bucket: str, key: str, inference_id: str | None) -> Source:
    """The upload as it is now, flagged when it is no longer the object that was transcribed."""
    expected_etag = etag_of(inference_id)
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if is_not_found(exc):
            return Source(bucket, key, etag=expected_etag, replaced=True)
        raise
    etag = str(head["ETag"]).strip('"')
    if expected_etag is not None and etag != expected_etag:
        return Source(bucket, key, etag=expected_etag, replaced=True)
    return Source(
        bucket,
        key,
        size=int(head.get("ContentLength", 0)),
        etag=etag,
        version_id=head.get("VersionId"),
        uploaded_at=head.get("LastModified"),
    )


def _read_s3_uri(s3: Any, uri: str) -> bytes:
    bucket, key = keys.parse_s3_uri(uri)
    return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def _record_success(ctx: ResultContext) -> CompleteResult:
    notification, s3 = ctx.notification, ctx.s3
    output_location = str(notification.output_location)
    try:
        raw = _read_s3_uri(s3, output_location)
    except ValueError as exc:
        raise Rejected(f"the endpoint reported an unreadable output location: {exc}", "complete") from None
    except ClientError as exc:
        if is_not_found(exc):
            raise Rejected(
                f"the endpoint's output {output_location} no longer exists (expired before it was read?)",
                "complete",
            ) from None
        raise
    try:
        result = validate_endpoint_result(raw)
        srt = subtitles.to_srt(result.get(ResultKeys.SEGMENTS, []))
        vtt = subtitles.to_vtt(result.get(ResultKeys.SEGMENTS, []))
    except ValueError as exc:
        raise Rejected(f"the endpoint returned an unusable result: {exc}", "complete") from None
    document = transcript_document(result, ctx.source, ctx.job)

    for suffix, body, content_type in (
        (names.SRT_SUFFIX, srt.encode("utf-8"), SRT_CONTENT_TYPE),
        (names.VTT_SUFFIX, vtt.encode("utf-8"), VTT_CONTENT_TYPE),
    ):
        put_if_newer(s3, ctx.bucket, keys.transcript_key(ctx.path, suffix), body, content_type, ctx.revision)
    result_key = keys.transcript_key(ctx.path)
    written = put_if_newer(
        s3, ctx.bucket, result_key, to_json_bytes(document), JSON_CONTENT_TYPE, ctx.revision
    )
    if written is not WriteOutcome.WRITTEN:
        logger.info("%s already holds %s result; nothing written", result_key, written.value)
        return CompleteResult(written.value, result_key)

    delete_unless_newer(s3, ctx.bucket, keys.failed_key(ctx.path), ctx.revision)  # a retry that worked
    meta = result.get(ResultKeys.METADATA) or {}
    values = {
        names.METRIC_TRANSCRIPTS: 1.0,
        names.METRIC_RTF: meta.get(MetadataKeys.RTF),
        names.METRIC_AUDIO_SECONDS: meta.get(MetadataKeys.AUDIO_DURATION_SEC),
        names.METRIC_PROCESSING_SECONDS: meta.get(MetadataKeys.PROCESSING_TIME_SEC),
        names.METRIC_END_TO_END_SECONDS: document["job"]["end_to_end_sec"],
        names.METRIC_QUEUE_SECONDS: document["job"]["queue_sec"],
    }
    emit(
        ctx.settings.metrics_namespace,
        notification.endpoint_name or "unknown",
        {n: float(v) for n, v in values.items() if isinstance(v, int | float) and not isinstance(v, bool)},
        inference_id=notification.inference_id,
        key=ctx.source.key,
        result=result_key,
    )
    logger.info("wrote %s (%s)", result_key, notification.inference_id)
    return CompleteResult("transcribed", result_key)


def _record_endpoint_failure(ctx: ResultContext) -> CompleteResult:
    notification = ctx.notification
    if _superseded(ctx):
        logger.info("not recording failure %s: a newer transcript exists", notification.inference_id)
        return CompleteResult("stale", keys.transcript_key(ctx.path))
    reason = (
        f"the endpoint could not transcribe '{keys.file_name(ctx.source.key)}': "
        f"{notification.failure_reason or 'no reason given'}"
    )
    detail = None
    if notification.failure_location:  # the model's own error body, when SageMaker kept one
        try:
            raw = _read_s3_uri(ctx.s3, notification.failure_location)
            detail = raw[:MAX_ERROR_DETAIL_CHARS].decode("utf-8", errors="replace")
        except (ClientError, ValueError) as exc:
            logger.warning("could not read %s: %s", notification.failure_location, exc)
    written = _write_failed(ctx, reason, "endpoint", detail)
    if written is WriteOutcome.WRITTEN:
        _emit_failure(ctx)
    return CompleteResult(
        "failed" if written is WriteOutcome.WRITTEN else written.value, keys.failed_key(ctx.path), reason
    )


def _superseded(ctx: ResultContext) -> bool:
    """A failure must not sit beside a transcript of the same or a newer upload."""
    existing = head_revision(ctx.s3, ctx.bucket, keys.transcript_key(ctx.path))
    return existing is not None and existing[0] is not None and existing[0].order >= ctx.revision.order


def _write_failed(ctx: ResultContext, reason: str, stage: str, detail: str | None = None) -> WriteOutcome:
    job = ctx.job
    document = failed_document(
        reason,
        stage,
        ctx.source,
        job.completed_at or datetime.now(UTC),
        inference_id=job.inference_id,
        job=job,
        detail=detail,
    )
    body = to_json_bytes(document)
    return put_if_newer(ctx.s3, ctx.bucket, keys.failed_key(ctx.path), body, JSON_CONTENT_TYPE, ctx.revision)


def _emit_failure(ctx: ResultContext) -> None:
    emit(
        ctx.settings.metrics_namespace,
        ctx.notification.endpoint_name or "unknown",
        {names.METRIC_FAILURES: 1.0},
        inference_id=ctx.notification.inference_id,
        key=ctx.source.key,
    )
