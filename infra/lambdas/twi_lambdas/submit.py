"""Lambda ``submit``: S3 ObjectCreated (through SQS) -> InvokeEndpointAsync.

For each upload under ``audio/`` it checks what can be checked before paying for a GPU
request (exists, not empty, under the size limit, looks like audio, valid language/task
metadata), then asks the asynchronous endpoint to read it from S3. Anything wrong with the
upload itself ends as ``failed/<path>.json`` (a key too long for any result key ends as a
warning and the ``KeyTooLong`` metric); anything wrong around it is retried.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import BotoCoreError, ClientError
from twi_contract import (
    ACCEPT_JSON,
    CONTAINER_CONTENT_TYPES,
    EXTENSIONS,
    LANGUAGE_EXPECTED,
    SNIFF_BYTES,
    TASKS,
    container_of,
    describe_non_audio,
    format_custom_attributes,
    parse_language,
    sniff,
)

from twi_lambdas import inputs, keys, names
from twi_lambdas.aws import s3_client, sagemaker_runtime_client
from twi_lambdas.errors import Rejected, Transient
from twi_lambdas.events import S3ObjectCreated, parse_s3_notification
from twi_lambdas.ids import inference_id as make_inference_id
from twi_lambdas.inputs import PinnedUpload
from twi_lambdas.results import JSON_CONTENT_TYPE, Source, failed_document, to_json_bytes
from twi_lambdas.runtime import emit, logger, process_batch, tracer
from twi_lambdas.settings import Settings, load_settings
from twi_lambdas.store import Revision, head_revision, is_not_found, put_if_newer, upload_order

STAGE = "submit"
# Time one record may take at worst: head, sniff, claim, a copy of up to 1 GB, the invocation.
MIN_REMAINING_MS = 20_000
# InvokeEndpointAsync errors worth retrying (the rest are about the request itself).
_TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalDependencyException",
        "ModelNotReadyException",
        "RequestTimeout",
        "SlowDown",
    }
)


@dataclass(frozen=True)
class SubmitResult:
    status: str  # "submitted", "rejected", "refused" (no failed/ record), "duplicate", "ignored"
    key: str
    detail: str = ""
    inference_id: str | None = None
    request: dict[str, Any] = field(default_factory=dict)  # what InvokeEndpointAsync got
    output_location: str | None = None  # where the endpoint will write the result


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    settings = load_settings()
    settings.require_endpoint()  # every record needs it: fail before any is consumed
    s3, sagemaker = s3_client(), sagemaker_runtime_client()
    return process_batch(
        event, context, lambda record: submit_message(record, settings, s3, sagemaker, context)
    )


def submit_message(
    record: SQSRecord, settings: Settings, s3: Any, sagemaker: Any, context: Any = None
) -> list[SubmitResult]:
    """Every upload in one SQS message (S3 sends one per message; more are allowed).

    A record is not started when the invocation has less than ``MIN_REMAINING_MS`` left: it
    goes back to the queue as a batch item failure instead of being cut off half-way (claimed
    but never submitted) when the function times out.
    """
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is not None and remaining() < MIN_REMAINING_MS:
        raise Transient(f"not started: {remaining()} ms left in this invocation; retried later")
    return [submit_object(obj, settings, s3, sagemaker) for obj in parse_s3_notification(record.body)]


def submit_object(obj: S3ObjectCreated, settings: Settings, s3: Any, sagemaker: Any) -> SubmitResult:
    path = keys.audio_path(obj.key)
    if path is None:
        logger.info("ignoring s3://%s/%s: not under %s", obj.bucket, obj.key, names.AUDIO_PREFIX)
        return SubmitResult("ignored", obj.key, f"not under {names.AUDIO_PREFIX}")
    if keys.is_folder_marker(obj.key):
        logger.info("ignoring folder marker s3://%s/%s", obj.bucket, obj.key)
        return SubmitResult("ignored", obj.key, "folder marker")
    if not keys.result_keys_fit(path):
        return _refuse_key_too_long(obj, path, settings)
    results_bucket = settings.bucket_name or obj.bucket
    source = Source(obj.bucket, obj.key, obj.size, obj.etag, obj.version_id)
    when = obj.event_time or datetime.now(UTC)
    try:
        return _submit(obj, path, settings, s3, sagemaker)
    except Rejected as exc:
        _write_failed(s3, results_bucket, path, exc.reason, source, when, obj)
        _emit(settings, names.METRIC_REJECTED, obj)
        logger.warning("rejected s3://%s/%s: %s", obj.bucket, obj.key, exc.reason)
        return SubmitResult("rejected", obj.key, exc.reason)
    except (Transient, ClientError, BotoCoreError) as exc:
        error = str(exc)

        def give_up(attempts: int) -> None:
            reason = f"could not submit after {attempts} attempts: {error}"
            _write_failed(s3, results_bucket, path, reason, source, when, obj)

        raise Transient(f"s3://{obj.bucket}/{obj.key}: {error}", give_up) from exc


def _refuse_key_too_long(obj: S3ObjectCreated, path: str, settings: Settings) -> SubmitResult:
    """An upload key S3 accepts whose result keys it would not (``keys.result_keys_fit``).

    No ``failed/`` record can say so, as its key would be too long too: this warning and the
    ``KeyTooLong`` metric are the outcome. The message is consumed, not retried into the DLQ.
    """
    detail = (
        f"key too long: its results need a {keys.longest_result_key_bytes(path)}-byte key, "
        f"over the {keys.MAX_KEY_BYTES} bytes S3 allows; upload it under a shorter name"
    )
    _emit(settings, names.METRIC_KEY_TOO_LONG, obj)
    logger.warning("refused s3://%s/%s: %s", obj.bucket, obj.key, detail)
    return SubmitResult("refused", obj.key, detail)


def _id_or_none(obj: S3ObjectCreated) -> str | None:
    return make_inference_id(obj.bucket, obj.key, obj.etag, obj.version_id) if obj.etag else None


def _submit(obj: S3ObjectCreated, path: str, settings: Settings, s3: Any, sagemaker: Any) -> SubmitResult:
    name = keys.file_name(obj.key)
    try:
        head = s3.head_object(Bucket=obj.bucket, Key=obj.key)
    except ClientError as exc:
        if is_not_found(exc):  # deleted since: nothing left to transcribe, nothing to report
            logger.info("ignoring s3://%s/%s: deleted before it was submitted", obj.bucket, obj.key)
            return SubmitResult("ignored", obj.key, "deleted before submission")
        raise
    etag = str(head["ETag"]).strip('"')
    version_id = head.get("VersionId") or obj.version_id
    if obj.etag and etag != obj.etag:
        # replaced by a newer upload, whose own event submits it
        logger.info(
            "ignoring stale event for s3://%s/%s (ETag %s, now %s)", obj.bucket, obj.key, obj.etag, etag
        )
        return SubmitResult("ignored", obj.key, "replaced by a newer upload")

    size = int(head.get("ContentLength", 0))
    if size == 0:
        raise Rejected(f"empty file: '{name}' has 0 bytes", STAGE)
    if size > settings.max_input_bytes:
        raise Rejected(
            f"too large: '{name}' is {_human(size)}, over the {_human(settings.max_input_bytes)} limit "
            "of asynchronous inference; split the recording or compress it (e.g. to Opus or MP3)",
            STAGE,
        )
    language, task = _language_and_task(head.get("Metadata") or {}, settings)
    inference_id = make_inference_id(obj.bucket, obj.key, etag, version_id)

    results_bucket = settings.bucket_name or obj.bucket
    for result_key in (keys.transcript_key(path), keys.failed_key(path)):
        existing = head_revision(s3, results_bucket, result_key)
        if existing is not None and existing[0] is not None and existing[0].id == inference_id:
            logger.info(
                "s3://%s/%s already has its result %s (%s)", obj.bucket, obj.key, result_key, inference_id
            )
            return SubmitResult("duplicate", obj.key, f"already recorded in {result_key}", inference_id)

    content_type = _content_type(obj, head, s3)
    upload = PinnedUpload(obj.key, version_id, upload_order(obj.sequencer))
    if not inputs.claim(s3, obj.bucket, inference_id, upload):
        logger.info(
            "s3://%s/%s is already in flight as %s: not submitted again", obj.bucket, obj.key, inference_id
        )
        return SubmitResult("duplicate", obj.key, "already submitted, in flight", inference_id)
    request: dict[str, Any] = {
        "EndpointName": settings.require_endpoint(),
        "InputLocation": f"s3://{obj.bucket}/{inputs.input_key(inference_id)}",
        "ContentType": content_type,
        "Accept": ACCEPT_JSON,
        "InferenceId": inference_id,
        "InvocationTimeoutSeconds": settings.invocation_timeout_seconds,
        "CustomAttributes": format_custom_attributes(language, task, name),
    }
    if settings.request_ttl_seconds is not None:
        request["RequestTTLSeconds"] = settings.request_ttl_seconds
    try:
        pinned = inputs.copy_version(s3, obj.bucket, inference_id, upload, etag, content_type)
        if pinned:
            try:
                response = sagemaker.invoke_endpoint_async(**request)
            except ClientError as exc:
                raise _classify(exc, name) from exc
    except BaseException:
        _release_quietly(s3, obj.bucket, inference_id)  # so that the retry can claim it again
        raise
    if not pinned:
        _release_quietly(s3, obj.bucket, inference_id)
        logger.info("ignoring s3://%s/%s: replaced while being submitted", obj.bucket, obj.key)
        return SubmitResult("ignored", obj.key, "replaced by a newer upload")
    logger.info(
        "submitted s3://%s/%s as %s (%s, %s) -> %s",
        obj.bucket,
        obj.key,
        inference_id,
        content_type,
        _human(size),
        response.get("OutputLocation"),
    )
    _emit(settings, names.METRIC_SUBMITTED, obj)
    return SubmitResult("submitted", obj.key, "", inference_id, request, response.get("OutputLocation"))


def _release_quietly(s3: Any, bucket: str, inference_id: str) -> None:
    try:
        inputs.release(s3, bucket, inference_id)
    except (ClientError, BotoCoreError) as exc:  # the reconciler clears a claim left behind
        logger.warning("could not release the claim on %s: %s", inputs.input_key(inference_id), exc)


def _language_and_task(metadata: dict[str, str], settings: Settings) -> tuple[str | None, str]:
    """The upload's language, forwarded as written once the contract's grammar accepts it (what
    it means for the model only the endpoint knows; without one the endpoint applies the
    deployment's default), and its task."""
    language = (metadata.get(names.META_LANGUAGE) or "").strip() or None
    task = (metadata.get(names.META_TASK) or "").strip().lower() or settings.default_task
    try:
        parse_language(language)
    except ValueError:
        raise Rejected(
            f"invalid x-amz-meta-{names.META_LANGUAGE} {language!r}: expected {LANGUAGE_EXPECTED}", STAGE
        ) from None
    if task not in TASKS:
        raise Rejected(
            f"invalid x-amz-meta-{names.META_TASK} {task!r}: expected one of {', '.join(TASKS)}", STAGE
        )
    return language, task


def _content_type(obj: S3ObjectCreated, head: dict[str, Any], s3: Any) -> str:
    """Decide from the first bytes, the extension and the upload's Content-Type, in that order."""
    name = keys.file_name(obj.key)
    sample = s3.get_object(Bucket=obj.bucket, Key=obj.key, Range=f"bytes=0-{SNIFF_BYTES - 1}")
    first_bytes = sample["Body"].read()
    audio_format = sniff(first_bytes)
    by_extension = EXTENSIONS.get(keys.extension(obj.key))
    if audio_format is not None:
        container = container_of(audio_format)
        if by_extension is not None and by_extension.container == container:
            return by_extension.content_type
        return CONTAINER_CONTENT_TYPES[container]
    what = describe_non_audio(first_bytes)
    if what is not None:
        raise Rejected(f"not audio: '{name}' is {what}", STAGE)
    if by_extension is not None:  # unknown bytes, known extension: let the decoder have a go
        return by_extension.content_type
    uploaded_type = str(head.get("ContentType") or "").split(";")[0].strip().lower()
    if uploaded_type.startswith(("audio/", "video/")):
        return uploaded_type
    supported = ", ".join(sorted(EXTENSIONS))
    raise Rejected(f"not audio: '{name}' is not in a recognised audio format (supported: {supported})", STAGE)


def _classify(exc: ClientError, name: str) -> Exception:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    message = str(error.get("Message", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    if code in _TRANSIENT_CODES or status >= 500 or status == 429:
        return Transient(f"endpoint busy or unavailable ({code}: {message})")
    if code == "ValidationError" and "not found" in message.lower():
        # the endpoint is being (re)deployed or misconfigured: not the upload's fault
        return Transient(f"endpoint not available ({message})")
    return Rejected(f"the endpoint refused '{name}' ({code}: {message})", STAGE)


def _write_failed(
    s3: Any, bucket: str, path: str, reason: str, source: Source, when: datetime, obj: S3ObjectCreated
) -> None:
    inference_id = _id_or_none(obj)
    document = failed_document(reason, STAGE, source, when, inference_id=inference_id)
    revision = Revision(upload_order(obj.sequencer), inference_id or f"{STAGE}:{source.etag}")
    put_if_newer(s3, bucket, keys.failed_key(path), to_json_bytes(document), JSON_CONTENT_TYPE, revision)


def _emit(settings: Settings, metric: str, obj: S3ObjectCreated) -> None:
    emit(settings.metrics_namespace, settings.endpoint_name or "unset", {metric: 1}, key=obj.key)


def _human(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"
