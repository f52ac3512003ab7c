"""Lambda ``submit``: S3 ObjectCreated (through SQS) -> InvokeEndpointAsync.

For each upload under ``audio/`` it checks what can be checked before paying for a GPU
request (exists, not empty, under the size limit, looks like audio, valid language/task
metadata), claims it (``twi_lambdas.inputs``), then asks the asynchronous endpoint to read it
from S3. Short uploads that arrive in one invocation are coalesced: held back until every
record was seen, then sent together as one request (``Coalescer``, ``twi_lambdas.batches``).
Anything wrong with the upload itself ends as ``failed/<path>.json`` (a key too long for any
result key ends as a warning and the ``KeyTooLong`` metric); anything wrong around it is
retried, upload by upload, whether it was coalesced or not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import BotoCoreError, ClientError
from twi_contract import (
    ACCEPT_JSON,
    BATCH_CONTENT_TYPE,
    CONTAINER_CONTENT_TYPES,
    EXTENSIONS,
    LANGUAGE_EXPECTED,
    SNIFF_BYTES,
    TASKS,
    BatchItem,
    container_of,
    describe_non_audio,
    format_custom_attributes,
    parse_flag,
    parse_language,
    sniff,
)

from twi_lambdas import batches, inputs, keys, names
from twi_lambdas.aws import s3_client, sagemaker_runtime_client
from twi_lambdas.errors import Rejected, Transient
from twi_lambdas.events import S3ObjectCreated, parse_s3_notification
from twi_lambdas.ids import inference_id as make_inference_id
from twi_lambdas.inputs import PinnedUpload
from twi_lambdas.results import JSON_CONTENT_TYPE, Source, failed_document, to_json_bytes
from twi_lambdas.runtime import DeferredFailures, emit, logger, process_batch, tracer
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
    # "submitted", "deferred" (held for a coalesced request), "rejected", "refused" (no failed/
    # record), "duplicate", "ignored"
    status: str
    key: str
    detail: str = ""
    inference_id: str | None = None
    request: dict[str, Any] = field(default_factory=dict)  # what InvokeEndpointAsync got
    output_location: str | None = None  # where the endpoint will write the result


@dataclass(frozen=True)
class Claimed:
    """An upload that passed every check and whose claim this invocation holds: ready to send,
    on its own or in a coalesced request."""

    obj: S3ObjectCreated
    path: str
    etag: str
    size: int
    content_type: str
    custom_attributes: str  # its own language, task and file name
    inference_id: str
    upload: PinnedUpload
    alone: bool  # announced again after its coalesced request failed: never coalesced again

    @property
    def name(self) -> str:
        return keys.file_name(self.obj.key)


# Takes a claimed upload that may join a coalesced request, to be sent once all records were seen.
Defer = Callable[[Claimed], None]


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    settings = load_settings()
    settings.require_endpoint()  # every record needs it: fail before any is consumed
    s3, sagemaker = s3_client(), sagemaker_runtime_client()
    coalescer = Coalescer(settings, s3, sagemaker, context)
    return process_batch(
        event,
        context,
        lambda record: submit_message(record, settings, s3, sagemaker, context, coalescer.holder(record)),
        flush=coalescer.flush,
    )


def submit_message(
    record: SQSRecord,
    settings: Settings,
    s3: Any,
    sagemaker: Any,
    context: Any = None,
    defer: Defer | None = None,
) -> list[SubmitResult]:
    """Every upload in one SQS message (S3 sends one per message; more are allowed).

    A record is not started when the invocation has less than ``MIN_REMAINING_MS`` left: it
    goes back to the queue as a batch item failure instead of being cut off half-way (claimed
    but never submitted) when the function times out.
    """
    _require_time(context)
    return [submit_object(obj, settings, s3, sagemaker, defer) for obj in parse_s3_notification(record.body)]


def _require_time(context: Any) -> None:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is not None and remaining() < MIN_REMAINING_MS:
        raise Transient(f"not started: {remaining()} ms left in this invocation; retried later")


def submit_object(
    obj: S3ObjectCreated, settings: Settings, s3: Any, sagemaker: Any, defer: Defer | None = None
) -> SubmitResult:
    """One upload: checked, claimed, then sent on its own, or handed to ``defer`` when it may
    join a coalesced request (short, not marked to go alone, coalescing on)."""
    path = keys.audio_path(obj.key)
    if path is None:
        logger.info("ignoring s3://%s/%s: not under %s", obj.bucket, obj.key, names.AUDIO_PREFIX)
        return SubmitResult("ignored", obj.key, f"not under {names.AUDIO_PREFIX}")
    if keys.is_folder_marker(obj.key):
        logger.info("ignoring folder marker s3://%s/%s", obj.bucket, obj.key)
        return SubmitResult("ignored", obj.key, "folder marker")
    if not keys.result_keys_fit(path):
        return _refuse_key_too_long(obj, path, settings)
    return _guarded(obj, path, settings, s3, lambda: _submit(obj, path, settings, s3, sagemaker, defer))


def _guarded(
    obj: S3ObjectCreated, path: str, settings: Settings, s3: Any, action: Callable[[], SubmitResult]
) -> SubmitResult:
    """``action``'s result under submit's policy for one upload: a ``Rejected`` ends as its
    ``failed/`` record, anything transient is retried (``failed/`` on the last delivery)."""
    try:
        return action()
    except Rejected as exc:
        _write_failed(s3, _results_bucket(settings, obj), path, exc.reason, obj)
        _emit(settings, obj, names.METRIC_REJECTED)
        logger.warning("rejected s3://%s/%s: %s", obj.bucket, obj.key, exc.reason)
        return SubmitResult("rejected", obj.key, exc.reason)
    except (Transient, ClientError, BotoCoreError) as exc:
        raise _retry_later(obj, path, settings, s3, exc) from exc


def _retry_later(obj: S3ObjectCreated, path: str, settings: Settings, s3: Any, exc: Exception) -> Transient:
    bucket = _results_bucket(settings, obj)
    return Transient.recorded(
        f"s3://{obj.bucket}/{obj.key}",
        "could not submit",
        exc,
        lambda reason: _write_failed(s3, bucket, path, reason, obj),
    )


def _results_bucket(settings: Settings, obj: S3ObjectCreated) -> str:
    return settings.bucket_name or obj.bucket


def _refuse_key_too_long(obj: S3ObjectCreated, path: str, settings: Settings) -> SubmitResult:
    """An upload key S3 accepts whose result keys it would not (``keys.result_keys_fit``).

    No ``failed/`` record can say so, as its key would be too long too: this warning and the
    ``KeyTooLong`` metric are the outcome. The message is consumed, not retried into the DLQ.
    """
    detail = (
        f"key too long: its results need a {keys.longest_result_key_bytes(path)}-byte key, "
        f"over the {keys.MAX_KEY_BYTES} bytes S3 allows; upload it under a shorter name"
    )
    _emit(settings, obj, names.METRIC_KEY_TOO_LONG)
    logger.warning("refused s3://%s/%s: %s", obj.bucket, obj.key, detail)
    return SubmitResult("refused", obj.key, detail)


def _id_or_none(obj: S3ObjectCreated) -> str | None:
    return make_inference_id(obj.bucket, obj.key, obj.etag, obj.version_id) if obj.etag else None


def _submit(
    obj: S3ObjectCreated, path: str, settings: Settings, s3: Any, sagemaker: Any, defer: Defer | None
) -> SubmitResult:
    claimed = _claim(obj, path, settings, s3)
    if isinstance(claimed, SubmitResult):
        return claimed
    if defer is not None and _coalescible(claimed, settings):
        defer(claimed)
        return SubmitResult("deferred", obj.key, "held for a coalesced request", claimed.inference_id)
    return _send_alone(claimed, settings, s3, sagemaker)


def _coalescible(claimed: Claimed, settings: Settings) -> bool:
    return settings.coalescing and not claimed.alone and claimed.size <= settings.coalesce_max_file_bytes


def _claim(obj: S3ObjectCreated, path: str, settings: Settings, s3: Any) -> Claimed | SubmitResult:
    """Every check, then the claim; the outcome instead when there is nothing to send."""
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
    metadata = head.get("Metadata") or {}
    language, task = _language_and_task(metadata, settings)
    words = _words(metadata)
    inference_id = make_inference_id(obj.bucket, obj.key, etag, version_id)

    results_bucket = _results_bucket(settings, obj)
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
    return Claimed(
        obj,
        path,
        etag,
        size,
        content_type,
        format_custom_attributes(language, task, name, words=words),
        inference_id,
        upload,
        alone=names.META_ALONE in metadata,
    )


def _send_alone(claimed: Claimed, settings: Settings, s3: Any, sagemaker: Any) -> SubmitResult:
    """Pin the claimed version (``inputs.copy_version``) and ask the endpoint to read that copy."""
    obj, inference_id = claimed.obj, claimed.inference_id
    request = _request(
        settings,
        f"s3://{obj.bucket}/{inputs.input_key(inference_id)}",
        claimed.content_type,
        inference_id,
        claimed.custom_attributes,
    )
    try:
        pinned = inputs.copy_version(
            s3, obj.bucket, inference_id, claimed.upload, claimed.etag, claimed.content_type
        )
        if pinned:
            response = _invoke(sagemaker, request, f"'{claimed.name}'")
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
        claimed.content_type,
        _human(claimed.size),
        response.get("OutputLocation"),
    )
    _emit(settings, obj, names.METRIC_SUBMITTED)
    return SubmitResult("submitted", obj.key, "", inference_id, request, response.get("OutputLocation"))


def _request(
    settings: Settings, input_location: str, content_type: str, inference_id: str, custom_attributes: str
) -> dict[str, Any]:
    """InvokeEndpointAsync's parameters, for one upload or a coalesced request."""
    request: dict[str, Any] = {
        "EndpointName": settings.require_endpoint(),
        "InputLocation": input_location,
        "ContentType": content_type,
        "Accept": ACCEPT_JSON,
        "InferenceId": inference_id,
        "InvocationTimeoutSeconds": settings.invocation_timeout_seconds,
    }
    if custom_attributes:  # a coalesced request has none: each member carries its own
        request["CustomAttributes"] = custom_attributes
    if settings.request_ttl_seconds is not None:
        request["RequestTTLSeconds"] = settings.request_ttl_seconds
    return request


def _invoke(sagemaker: Any, request: dict[str, Any], what: str) -> dict[str, Any]:
    try:
        return dict(sagemaker.invoke_endpoint_async(**request))
    except ClientError as exc:
        raise _classify(exc, what) from exc


@dataclass(frozen=True)
class _Held:
    record: SQSRecord  # the SQS message it came in: what is retried if sending it fails
    claimed: Claimed


def _held_size(held: _Held) -> int:
    return held.claimed.size


class Coalescer:
    """Short uploads held back while one invocation's records are read, then sent together.

    Groups follow arrival order, within ``coalesce_max_files`` and ``coalesce_max_bytes``, one
    bucket each; a group of one is sent like any other upload. Each member keeps its own
    outcome: one replaced meanwhile is left out and its claim released; when the request
    cannot be sent, each member's record is retried under submit's policy (``failed/`` on the
    last delivery); when the endpoint refuses the request as a whole, each member is sent on
    its own at once.
    """

    def __init__(self, settings: Settings, s3: Any, sagemaker: Any, context: Any = None) -> None:
        self._settings = settings
        self._s3 = s3
        self._sagemaker = sagemaker
        self._context = context
        self._held: list[_Held] = []

    def holder(self, record: SQSRecord) -> Defer:
        """Where ``submit_message`` hands the uploads of ``record`` it may coalesce."""
        return lambda claimed: self._held.append(_Held(record, claimed))

    def flush(self) -> DeferredFailures:
        """Send everything held; the records whose upload could not be sent, and why."""
        held, self._held = self._held, []
        settings = self._settings
        failures: list[tuple[SQSRecord, BaseException]] = []
        for bucket in dict.fromkeys(h.claimed.obj.bucket for h in held):
            in_bucket = [h for h in held if h.claimed.obj.bucket == bucket]
            for group in batches.plan(
                in_bucket, _held_size, settings.coalesce_max_files, settings.coalesce_max_bytes
            ):
                failures += self._send(bucket, group)
        return failures

    def _send(self, bucket: str, group: list[_Held]) -> list[tuple[SQSRecord, BaseException]]:
        if len(group) == 1:
            return self._send_each(group)
        try:
            _require_time(self._context)
        except Transient as exc:
            return self._give_back(bucket, group, exc)
        failures: list[tuple[SQSRecord, BaseException]] = []
        members: list[tuple[_Held, bytes]] = []
        for held in group:
            try:
                body = batches.read_member(self._s3, bucket, held.claimed.upload, held.claimed.etag)
            except Exception as exc:
                failures += self._give_back(bucket, [held], exc)
                continue
            if body is None:
                _release_quietly(self._s3, bucket, held.claimed.inference_id)
                logger.info(
                    "ignoring s3://%s/%s: replaced while being submitted", bucket, held.claimed.obj.key
                )
                continue
            members.append((held, body))
        together = [held for held, _ in members]
        if len(members) < 2:
            return failures + self._send_each(together)
        try:
            self._send_together(bucket, members)
        except Rejected as exc:
            logger.warning(
                "the endpoint refused a coalesced request of %d uploads (%s): sending each on its own",
                len(members),
                exc.reason,
            )
            return failures + self._send_each(together)
        except Exception as exc:
            return failures + self._give_back(bucket, together, exc)
        return failures

    def _send_together(self, bucket: str, members: list[tuple[_Held, bytes]]) -> None:
        """One request for every member: their claims name it, their bytes go in its input."""
        claimed = [held.claimed for held, _ in members]
        batch = batches.batch_id(c.inference_id for c in claimed)
        for c in claimed:
            inputs.join_batch(self._s3, bucket, c.inference_id, replace(c.upload, batch_id=batch))
        items = [
            BatchItem(c.inference_id, body, c.content_type, c.custom_attributes)
            for c, (_, body) in zip(claimed, members, strict=True)
        ]
        key = batches.write_input(self._s3, bucket, batch, items)
        request = _request(self._settings, f"s3://{bucket}/{key}", BATCH_CONTENT_TYPE, batch, "")
        try:
            response = _invoke(self._sagemaker, request, f"a coalesced request of {len(items)} uploads")
        except BaseException:
            _quietly(batches.delete_input, self._s3, bucket, key)
            raise
        logger.info(
            "submitted %d uploads of s3://%s (%s) as %s -> %s",
            len(claimed),
            bucket,
            _human(sum(c.size for c in claimed)),
            batch,
            response.get("OutputLocation"),
        )
        for c in claimed:
            _emit(self._settings, c.obj, names.METRIC_SUBMITTED, names.METRIC_COALESCED, batch_id=batch)

    def _send_each(self, group: list[_Held]) -> list[tuple[SQSRecord, BaseException]]:
        failures: list[tuple[SQSRecord, BaseException]] = []
        for held in group:
            c = held.claimed
            send = partial(_send_alone, c, self._settings, self._s3, self._sagemaker)
            try:
                _guarded(c.obj, c.path, self._settings, self._s3, send)
            except Exception as exc:
                failures.append((held.record, exc))
        return failures

    def _give_back(
        self, bucket: str, group: list[_Held], error: Exception
    ) -> list[tuple[SQSRecord, BaseException]]:
        """Not sent: release the claims, and have each record retried under submit's policy."""
        failures: list[tuple[SQSRecord, BaseException]] = []
        for held in group:
            c = held.claimed
            _release_quietly(self._s3, bucket, c.inference_id)
            retry = (
                _retry_later(c.obj, c.path, self._settings, self._s3, error)
                if isinstance(error, Transient | ClientError | BotoCoreError)
                else error
            )
            failures.append((held.record, retry))
        return failures


def _release_quietly(s3: Any, bucket: str, inference_id: str) -> None:
    _quietly(inputs.release, s3, bucket, inference_id)  # the reconciler clears a claim left behind


def _quietly(cleanup: Callable[[Any, str, str], None], s3: Any, bucket: str, name: str) -> None:
    """A clean-up whose failure must not hide the error being handled."""
    try:
        cleanup(s3, bucket, name)
    except (ClientError, BotoCoreError) as exc:
        logger.warning("could not clean up after s3://%s (%s): %s", bucket, name, exc)


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


def _words(metadata: dict[str, str]) -> bool:
    """Whether the upload asks for word times (``x-amz-meta-words: true``; off when unset)."""
    value = metadata.get(names.META_WORDS)
    if value is None:
        return False
    try:
        return parse_flag(value, names.META_WORDS)
    except ValueError:
        expected = "expected true or false"
        raise Rejected(f"invalid x-amz-meta-{names.META_WORDS} {value!r}: {expected}", STAGE) from None


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


def _classify(exc: ClientError, what: str) -> Exception:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    message = str(error.get("Message", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    if code in _TRANSIENT_CODES or status >= 500 or status == 429:
        return Transient(f"endpoint busy or unavailable ({code}: {message})")
    if code == "ValidationError" and "not found" in message.lower():
        # the endpoint is being (re)deployed or misconfigured: not the upload's fault
        return Transient(f"endpoint not available ({message})")
    return Rejected(f"the endpoint refused {what} ({code}: {message})", STAGE)


def _write_failed(s3: Any, bucket: str, path: str, reason: str, obj: S3ObjectCreated) -> None:
    inference_id = _id_or_none(obj)
    source = Source(obj.bucket, obj.key, obj.size, obj.etag, obj.version_id)
    when = obj.event_time or datetime.now(UTC)
    document = failed_document(reason, STAGE, source, when, inference_id=inference_id)
    revision = Revision(upload_order(obj.sequencer), inference_id or f"{STAGE}:{source.etag}")
    put_if_newer(s3, bucket, keys.failed_key(path), to_json_bytes(document), JSON_CONTENT_TYPE, revision)


def _emit(settings: Settings, obj: S3ObjectCreated, *counted: str, **metadata: str) -> None:
    emit(
        settings.metrics_namespace,
        settings.endpoint_name or "unset",
        dict.fromkeys(counted, 1),
        key=obj.key,
        **metadata,
    )


def _human(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"
