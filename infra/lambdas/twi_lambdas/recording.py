"""How complete records one file's outcome: ``transcripts/<path>.srt``, ``.vtt`` and, last,
``.json`` (the JSON is what users and tools wait for, so it appears only once its subtitles
exist), or ``failed/<path>.json``; newest upload wins (``twi_lambdas.store``), and each
outcome emits its CloudWatch metrics in Embedded Metric Format.

A file is recorded the same way whether it was a request of its own (``complete``) or one
member of a coalesced request (``twi_lambdas.fanout``): its result, where it came from and
how it came to be are all this needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from twi_contract import MetadataKeys, ResultKeys

from twi_lambdas import keys, names, subtitles
from twi_lambdas.errors import Rejected, Transient
from twi_lambdas.events import AsyncNotification
from twi_lambdas.ids import etag_of
from twi_lambdas.inputs import PinnedUpload
from twi_lambdas.results import (
    JSON_CONTENT_TYPE,
    SRT_CONTENT_TYPE,
    VTT_CONTENT_TYPE,
    Job,
    Source,
    check_result,
    failed_document,
    parse_endpoint_output,
    to_json_bytes,
    transcript_document,
    uncovered_speech,
)
from twi_lambdas.runtime import emit, logger
from twi_lambdas.settings import Settings
from twi_lambdas.store import (
    Revision,
    WriteOutcome,
    delete_unless_newer,
    head_revision,
    is_not_found,
    put_if_newer,
)


@dataclass(frozen=True)
class CompleteResult:
    # "transcribed", "failed", "duplicate", "stale", "ignored"; a coalesced request: "fanned out"
    status: str
    key: str | None = None  # the result object written (or that already held this result)
    detail: str = ""


@dataclass(frozen=True)
class ResultContext:
    """Where one file's result files go, and what they say about their origin."""

    notification: AsyncNotification
    s3: Any
    bucket: str  # of the results
    path: str  # the upload's <path> below audio/
    source: Source
    job: Job
    revision: Revision
    settings: Settings


def result_context(
    notification: AsyncNotification,
    settings: Settings,
    s3: Any,
    bucket: str,
    upload: PinnedUpload,
    inference_id: str | None,
    batch_id: str | None = None,
) -> ResultContext | None:
    """Where the outcome of the file ``upload`` (its own request id ``inference_id``, sent in
    ``batch_id`` if coalesced) goes; None when it is not an upload of this stack."""
    path = keys.audio_path(upload.key)
    if path is None or (settings.bucket_name is not None and bucket != settings.bucket_name):
        return None
    job = Job(
        inference_id=inference_id,
        endpoint=notification.endpoint_name,
        submitted_at=notification.received_time,
        completed_at=notification.event_time or datetime.now(UTC),
        output_location=notification.output_location,
        batch_id=batch_id,
    )
    revision = Revision(
        upload.order, inference_id or notification.output_location or notification.input_location
    )
    source = Source(bucket, upload.key, etag=etag_of(inference_id))
    return ResultContext(
        notification, s3, settings.bucket_name or bucket, path, source, job, revision, settings
    )


def record(ctx: ResultContext, outcome: Callable[[ResultContext], CompleteResult]) -> CompleteResult:
    """``outcome(ctx)``, the source described first, under complete's policy: a ``Rejected``
    ends as a ``failed/`` record (unless a transcript of the same or a newer upload exists);
    anything transient is retried, and leaves a ``failed/`` record on the last delivery."""
    try:
        ctx = replace(
            ctx, source=describe_source(ctx.s3, ctx.source.bucket, ctx.source.key, ctx.job.inference_id)
        )
        return outcome(ctx)
    except Rejected as exc:
        if superseded(ctx):
            return CompleteResult("stale", keys.transcript_key(ctx.path), exc.reason)
        written = write_failed(ctx, exc.reason, exc.stage)
        emit_failure(ctx)
        return CompleteResult("failed", keys.failed_key(ctx.path), f"{exc.reason} ({written.value})")
    except (Transient, ClientError, BotoCoreError) as exc:
        raise retry_later(
            ctx, "the transcript could not be stored", exc, str(ctx.notification.input_location)
        ) from exc


def retry_later(ctx: ResultContext, failing: str, exc: Exception, label: str) -> Transient:
    """``exc`` as complete's retry: the message comes back; on its last delivery the upload's
    ``failed/`` record says ``<failing> after <n> attempts: <exc>``."""
    return Transient.recorded(label, failing, exc, lambda reason: write_failed(ctx, reason, "complete"))


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


def read_output(s3: Any, output_location: str) -> Any:
    """The endpoint's ``.out`` as JSON; ``Rejected`` when it cannot be read or parsed."""
    try:
        raw = read_s3_uri(s3, output_location)
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
        return parse_endpoint_output(raw)
    except ValueError as exc:
        raise Rejected(f"the endpoint returned an unusable result: {exc}", "complete") from None


def read_s3_uri(s3: Any, uri: str) -> bytes:
    bucket, key = keys.parse_s3_uri(uri)
    return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def record_transcript(ctx: ResultContext, result: Any) -> CompleteResult:
    """The transcript and its subtitles from one file's ``result`` (checked here: an unusable
    one is ``Rejected``), then its metrics."""
    try:
        result = check_result(result)
        srt = subtitles.to_srt(result.get(ResultKeys.SEGMENTS, []))
        vtt = subtitles.to_vtt(result.get(ResultKeys.SEGMENTS, []))
    except ValueError as exc:
        raise Rejected(f"the endpoint returned an unusable result: {exc}", "complete") from None
    document = transcript_document(result, ctx.source, ctx.job)

    s3 = ctx.s3
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
        names.METRIC_SPEECH_SECONDS: meta.get(MetadataKeys.SPEECH_SEC),
        names.METRIC_UNCOVERED_SPEECH_SECONDS: _uncovered_seconds(result),
    }
    emit(
        ctx.settings.metrics_namespace,
        ctx.notification.endpoint_name or "unknown",
        {n: float(v) for n, v in values.items() if isinstance(v, int | float) and not isinstance(v, bool)},
        inference_id=ctx.job.inference_id,
        key=ctx.source.key,
        result=result_key,
    )
    logger.info("wrote %s (%s)", result_key, ctx.job.inference_id)
    return CompleteResult("transcribed", result_key)


def _uncovered_seconds(result: dict[str, Any]) -> float | None:
    """Seconds of speech the endpoint listed as left without text, or None where it did not
    say (no VAD ran): a dashboard line that shows a model, a language or a kind of recording
    starting to lose speech, which a Twi reader may not notice."""
    regions = uncovered_speech(result)
    return None if regions is None else round(sum(end - start for start, end in regions), 3)


def record_endpoint_failure(ctx: ResultContext, why: str, detail: str | None = None) -> CompleteResult:
    """``failed/`` with what the endpoint said about this file, unless a transcript of the
    same or a newer upload exists."""
    if superseded(ctx):
        logger.info("not recording failure %s: a newer transcript exists", ctx.job.inference_id)
        return CompleteResult("stale", keys.transcript_key(ctx.path))
    reason = f"the endpoint could not transcribe '{keys.file_name(ctx.source.key)}': {why}"
    written = write_failed(ctx, reason, "endpoint", detail)
    if written is WriteOutcome.WRITTEN:
        emit_failure(ctx)
    return CompleteResult(
        "failed" if written is WriteOutcome.WRITTEN else written.value, keys.failed_key(ctx.path), reason
    )


def superseded(ctx: ResultContext) -> bool:
    """A failure must not sit beside a transcript of the same or a newer upload."""
    existing = head_revision(ctx.s3, ctx.bucket, keys.transcript_key(ctx.path))
    return existing is not None and existing[0] is not None and existing[0].order >= ctx.revision.order


def write_failed(ctx: ResultContext, reason: str, stage: str, detail: str | None = None) -> WriteOutcome:
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


def emit_failure(ctx: ResultContext) -> None:
    emit(
        ctx.settings.metrics_namespace,
        ctx.notification.endpoint_name or "unknown",
        {names.METRIC_FAILURES: 1.0},
        inference_id=ctx.job.inference_id,
        key=ctx.source.key,
    )
