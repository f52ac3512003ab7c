"""Lambda ``complete``: SageMaker async notification (SNS -> SQS) -> result files in S3.

Success: read the endpoint's ``.out``, write ``transcripts/<path>.srt``, ``.vtt`` and,
last, ``.json`` (the JSON is what users and tools wait for, so it appears only once its
subtitles exist). Failure: write ``failed/<path>.json`` with the endpoint's reason. Both
emit CloudWatch metrics in Embedded Metric Format. Stateless: the notification's
``inputLocation`` and ``inferenceId`` are all the correlation there is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from twi_lambdas import keys, metrics, names, subtitles
from twi_lambdas.aws import s3_client
from twi_lambdas.batch import BatchResponse, process_batch
from twi_lambdas.errors import Poison, Rejected, Transient
from twi_lambdas.events import (
    STATUS_FAILED,
    AsyncNotification,
    SqsRecord,
    format_time,
    parse_async_notification,
)
from twi_lambdas.ids import etag_of
from twi_lambdas.logs import configure_logging
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
from twi_lambdas.settings import Settings, load_settings
from twi_lambdas.store import (
    Revision,
    WriteOutcome,
    delete_if_older,
    head_revision,
    is_not_found,
    put_if_newer,
)

logger = logging.getLogger(__name__)

MAX_ERROR_DETAIL_CHARS = 2000  # of the endpoint's error body, copied into failed/ records


@dataclass(frozen=True)
class CompleteResult:
    status: str  # "transcribed", "failed", "duplicate", "stale", "ignored"
    key: str | None = None  # the result object written (or that already held this result)
    detail: str = ""


def handler(event: dict[str, Any], context: object) -> BatchResponse:
    configure_logging()
    settings = load_settings()
    s3 = s3_client()
    return process_batch(event, lambda record: complete_message(record, settings, s3))


def complete_message(record: SqsRecord, settings: Settings, s3: Any) -> CompleteResult:
    notification = parse_async_notification(record.body)
    if notification is None:
        logger.info("ignoring the endpoint's TestNotification (message %s)", record.message_id)
        return CompleteResult("ignored", detail="TestNotification")
    return complete_notification(notification, settings, s3, receive_count=record.receive_count)


def complete_notification(
    notification: AsyncNotification, settings: Settings, s3: Any, receive_count: int = 1
) -> CompleteResult:
    try:
        bucket, key = keys.parse_s3_uri(notification.input_location)
    except ValueError as exc:
        raise Poison(str(exc)) from None
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
        format_time(completed_at),
        notification.inference_id or notification.output_location or notification.input_location,
    )
    source = Source(bucket, key, etag=etag_of(notification.inference_id))
    try:
        source = describe_source(s3, bucket, key, notification.inference_id)
        if notification.status == STATUS_FAILED:
            return _record_endpoint_failure(
                notification, s3, results_bucket, path, source, job, revision, settings
            )
        return _record_success(notification, s3, results_bucket, path, source, job, revision, settings)
    except Rejected as exc:
        if _superseded(s3, results_bucket, path, revision):
            return CompleteResult("stale", keys.transcript_key(path), exc.reason)
        written = _write_failed(s3, results_bucket, path, exc.reason, exc.stage, source, job, revision, None)
        _emit_failure(settings, notification, key)
        return CompleteResult("failed", keys.failed_key(path), f"{exc.reason} ({written.value})")
    except (Transient, ClientError, BotoCoreError) as exc:
        if receive_count >= names.MAX_RECEIVE_COUNT:  # last try: tell the user, then the DLQ
            reason = f"the transcript could not be stored after {receive_count} attempts: {exc}"
            _write_failed(s3, results_bucket, path, reason, "complete", source, job, revision, None)
        if isinstance(exc, Transient):
            raise
        raise Transient(f"{notification.input_location}: {exc}") from exc


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


def _record_success(
    notification: AsyncNotification,
    s3: Any,
    results_bucket: str,
    path: str,
    source: Source,
    job: Job,
    revision: Revision,
    settings: Settings,
) -> CompleteResult:
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
        srt = subtitles.to_srt(result.get("segments", []))
        vtt = subtitles.to_vtt(result.get("segments", []))
    except ValueError as exc:
        raise Rejected(f"the endpoint returned an unusable result: {exc}", "complete") from None
    document = transcript_document(result, source, job)

    for suffix, body, content_type in (
        (names.SRT_SUFFIX, srt.encode("utf-8"), SRT_CONTENT_TYPE),
        (names.VTT_SUFFIX, vtt.encode("utf-8"), VTT_CONTENT_TYPE),
    ):
        put_if_newer(s3, results_bucket, keys.transcript_key(path, suffix), body, content_type, revision)
    result_key = keys.transcript_key(path)
    outcome = put_if_newer(
        s3, results_bucket, result_key, to_json_bytes(document), JSON_CONTENT_TYPE, revision
    )
    if outcome is not WriteOutcome.WRITTEN:
        logger.info("%s already holds %s result; nothing written", result_key, outcome.value)
        return CompleteResult(outcome.value, result_key)

    delete_if_older(s3, results_bucket, keys.failed_key(path), revision)  # a retry that worked
    meta = result.get("metadata") or {}
    values = {
        "Transcripts": 1.0,
        "RTF": meta.get("rtf"),
        "AudioSeconds": meta.get("audio_duration_sec"),
        "ProcessingSeconds": meta.get("processing_time_sec"),
        "EndToEndSeconds": document["job"]["end_to_end_sec"],
        "QueueSeconds": document["job"]["queue_sec"],
    }
    metrics.emit(
        settings.metrics_namespace,
        {"EndpointName": notification.endpoint_name or "unknown"},
        {
            name: float(v)
            for name, v in values.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        },
        {"inference_id": notification.inference_id, "key": source.key, "result": result_key},
    )
    logger.info("wrote %s (%s)", result_key, notification.inference_id)
    return CompleteResult("transcribed", result_key)


def _record_endpoint_failure(
    notification: AsyncNotification,
    s3: Any,
    results_bucket: str,
    path: str,
    source: Source,
    job: Job,
    revision: Revision,
    settings: Settings,
) -> CompleteResult:
    if _superseded(s3, results_bucket, path, revision):
        logger.info("not recording failure %s: a newer transcript exists", notification.inference_id)
        return CompleteResult("stale", keys.transcript_key(path))
    reason = (
        f"the endpoint could not transcribe '{keys.file_name(source.key)}': "
        f"{notification.failure_reason or 'no reason given'}"
    )
    detail = None
    if notification.failure_location:  # the model's own error body, when SageMaker kept one
        try:
            raw = _read_s3_uri(s3, notification.failure_location)
            detail = raw[:MAX_ERROR_DETAIL_CHARS].decode("utf-8", errors="replace")
        except (ClientError, ValueError) as exc:
            logger.warning("could not read %s: %s", notification.failure_location, exc)
    written = _write_failed(s3, results_bucket, path, reason, "endpoint", source, job, revision, detail)
    if written is WriteOutcome.WRITTEN:
        _emit_failure(settings, notification, source.key)
    return CompleteResult(
        "failed" if written is WriteOutcome.WRITTEN else written.value, keys.failed_key(path), reason
    )


def _superseded(s3: Any, bucket: str, path: str, revision: Revision) -> bool:
    """A failure of an older request must not sit beside the newer transcript."""
    existing = head_revision(s3, bucket, keys.transcript_key(path))
    return existing is not None and existing[0] is not None and existing[0] > revision


def _write_failed(
    s3: Any,
    bucket: str,
    path: str,
    reason: str,
    stage: str,
    source: Source,
    job: Job,
    revision: Revision,
    detail: str | None,
) -> WriteOutcome:
    document = failed_document(
        reason,
        stage,
        source,
        job.completed_at or datetime.now(UTC),
        inference_id=job.inference_id,
        job=job,
        detail=detail,
    )
    return put_if_newer(
        s3, bucket, keys.failed_key(path), to_json_bytes(document), JSON_CONTENT_TYPE, revision
    )


def _emit_failure(settings: Settings, notification: AsyncNotification, key: str) -> None:
    metrics.emit(
        settings.metrics_namespace,
        {"EndpointName": notification.endpoint_name or "unknown"},
        {"Failures": 1.0},
        {"inference_id": notification.inference_id, "key": key},
    )
