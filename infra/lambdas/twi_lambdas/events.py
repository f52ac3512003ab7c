"""Typed views of what arrives in the SQS bodies: S3 notifications (submit) and SageMaker
async notifications in SNS envelopes (complete). Powertools' data classes read the S3 and SNS
shapes; SageMaker's notification has none, so it is read here.

Parsing is strict where a wrong guess would lose work (a record without a bucket or key is
``Poison``) and lenient where AWS adds fields over time (unknown fields are ignored).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.data_classes.s3_event import S3EventRecord
from aws_lambda_powertools.utilities.data_classes.sns_event import SNSMessage

from twi_lambdas.errors import Poison
from twi_lambdas.keys import decode_event_key

S3_TEST_EVENT = "s3:TestEvent"
SAGEMAKER_TEST_NOTIFICATION = "TestNotification"
STATUS_COMPLETED = "Completed"
STATUS_FAILED = "Failed"


def load_json_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise Poison(f"{what} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise Poison(f"{what} is not a JSON object")
    return value


def parse_time(value: Any) -> datetime | None:
    """An AWS ISO-8601 time ('2026-01-25T22:46:00.608Z') as an aware UTC datetime."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_time(value: datetime) -> str:
    """One fixed, sortable format for every time we write: '2026-01-25T22:46:00.608Z'."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


# --- S3 event notifications -------------------------------------------------------------
@dataclass(frozen=True)
class S3ObjectCreated:
    bucket: str
    key: str  # decoded: 'audio/Kɔfi ne Ama.wav'
    size: int | None
    etag: str | None  # without quotes
    version_id: str | None
    event_time: datetime | None
    sequencer: str | None = None  # S3's order of the events on this key (hex)


def parse_s3_notification(body: str) -> list[S3ObjectCreated]:
    """ObjectCreated records of an S3 notification; [] for the s3:TestEvent S3 sends when
    the notification is configured, and for other event types."""
    message = _unwrap(body)[0]  # S3 -> SNS -> SQS fan-out delivers the same event in an envelope
    if message.get("Event") == S3_TEST_EVENT:
        return []
    if not isinstance(message.get("Records"), list):
        raise Poison("S3 notification has no 'Records' list")
    try:
        return [
            _object_created(record)
            for record in S3Event(message).records
            if str(record.get("eventName", "")).startswith("ObjectCreated:")
        ]
    except (AttributeError, KeyError, TypeError):
        raise Poison("S3 ObjectCreated record without s3.bucket.name / s3.object.key") from None


def _object_created(record: S3EventRecord) -> S3ObjectCreated:
    obj = record.s3.get_object
    size = obj.get("size")  # absent in some event types; HeadObject is the authority anyway
    return S3ObjectCreated(
        bucket=str(record.s3.bucket.name),
        key=decode_event_key(str(obj.key)),
        size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        etag=(obj.etag or obj.get("etag") or "").strip('"') or None,
        version_id=obj.version_id or None,
        event_time=parse_time(record.get("eventTime")),
        sequencer=str(obj.get("sequencer") or "") or None,
    )


# --- SageMaker async notifications (through SNS) ---------------------------------------
@dataclass(frozen=True)
class AsyncNotification:
    status: str  # 'Completed' or 'Failed'
    inference_id: str | None
    endpoint_name: str | None
    input_location: str
    output_location: str | None  # success only
    failure_location: str | None  # failure, when the endpoint wrote an error body
    failure_reason: str | None
    event_time: datetime | None  # when SageMaker finished
    received_time: datetime | None  # when SageMaker accepted the request


def _unwrap(body: str) -> tuple[dict[str, Any], datetime | None]:
    """(the SNS ``Message`` of an SQS body (raw message delivery off), or the body itself when
    it already is the message (raw delivery on); the envelope's publish time, if any)."""
    envelope = load_json_object(body, "SQS message body")
    if envelope.get("Type") == "Notification" and "Message" in envelope:
        sns = SNSMessage(envelope)
        return load_json_object(str(sns.message), "SNS Message"), parse_time(sns.get("Timestamp"))
    return envelope, None


def parse_async_notification(body: str) -> AsyncNotification | None:
    """The SageMaker notification in an SQS body; None for the endpoint's TestNotification."""
    message, published = _unwrap(body)
    if message.get("eventName") == SAGEMAKER_TEST_NOTIFICATION:
        return None
    status = message.get("invocationStatus")
    if status not in (STATUS_COMPLETED, STATUS_FAILED):
        raise Poison(f"not a SageMaker async notification: invocationStatus={status!r}")
    request = message.get("requestParameters") or {}
    response = message.get("responseParameters") or {}
    input_location = request.get("inputLocation")
    if not isinstance(input_location, str) or not input_location:
        raise Poison("SageMaker notification without requestParameters.inputLocation")
    output_location = response.get("outputLocation")
    if status == STATUS_COMPLETED and not output_location:
        raise Poison("SageMaker 'Completed' notification without responseParameters.outputLocation")
    return AsyncNotification(
        status=str(status),
        inference_id=message.get("inferenceId") or None,
        endpoint_name=request.get("endpointName") or None,
        input_location=input_location,
        output_location=output_location or None,
        failure_location=response.get("failureLocation") or None,
        failure_reason=message.get("failureReason") or None,
        # the SNS publish time stands in for a missing eventTime: duplicates must agree on it
        event_time=parse_time(message.get("eventTime")) or published,
        received_time=parse_time(message.get("receivedTime")),
    )
