"""Typed views of the events the two functions receive: SQS batches carrying S3
notifications (submit) or SNS envelopes of SageMaker async notifications (complete).

Parsing is strict where a wrong guess would lose work (a record without a bucket or key is
``Poison``) and lenient where AWS adds fields over time (unknown fields are ignored).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from twi_lambdas.errors import Poison
from twi_lambdas.keys import decode_event_key

S3_TEST_EVENT = "s3:TestEvent"
SAGEMAKER_TEST_NOTIFICATION = "TestNotification"
STATUS_COMPLETED = "Completed"
STATUS_FAILED = "Failed"


# --- SQS -------------------------------------------------------------------------------
@dataclass(frozen=True)
class SqsRecord:
    message_id: str
    body: str
    receive_count: int  # 1 on the first delivery


def parse_sqs_event(event: Mapping[str, Any]) -> list[SqsRecord]:
    """The records of a Lambda SQS event. A record without a messageId cannot even be
    reported back, so that (impossible from the SQS event source) raises."""
    records = event.get("Records")
    if not isinstance(records, list):
        raise ValueError("not an SQS event: no 'Records' list")
    out = []
    for raw in records:
        attributes = raw.get("attributes") or {}
        try:
            count = int(attributes.get("ApproximateReceiveCount", 1))
        except (TypeError, ValueError):
            count = 1
        out.append(
            SqsRecord(message_id=str(raw["messageId"]), body=str(raw.get("body", "")), receive_count=count)
        )
    return out


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
    event_name: str  # 'ObjectCreated:Put', ...
    event_time: datetime | None
    sequencer: str | None


def parse_s3_notification(body: str) -> list[S3ObjectCreated]:
    """ObjectCreated records of an S3 notification; [] for the s3:TestEvent S3 sends when
    the notification is configured, and for other event types."""
    message = unwrap_sns(body)  # S3 -> SNS -> SQS fan-out delivers the same event in an envelope
    if message.get("Event") == S3_TEST_EVENT:
        return []
    records = message.get("Records")
    if not isinstance(records, list):
        raise Poison("S3 notification has no 'Records' list")
    out = []
    for record in records:
        if not isinstance(record, dict) or not str(record.get("eventName", "")).startswith("ObjectCreated:"):
            continue
        try:
            s3 = record["s3"]
            bucket = s3["bucket"]["name"]
            obj = s3["object"]
            raw_key = obj["key"]
        except (KeyError, TypeError):
            raise Poison("S3 ObjectCreated record without s3.bucket.name / s3.object.key") from None
        size = obj.get("size")  # absent in some event types; HeadObject is the authority anyway
        etag = obj.get("eTag") or obj.get("etag")
        out.append(
            S3ObjectCreated(
                bucket=str(bucket),
                key=decode_event_key(str(raw_key)),
                size=size if isinstance(size, int) and not isinstance(size, bool) else None,
                etag=str(etag).strip('"') if etag else None,
                version_id=obj.get("versionId") or None,
                event_name=str(record["eventName"]),
                event_time=parse_time(record.get("eventTime")),
                sequencer=obj.get("sequencer") or None,
            )
        )
    return out


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


def unwrap_sns(body: str) -> dict[str, Any]:
    """The SNS ``Message`` of an SQS body (raw message delivery off), or the body itself
    when it already is the message (raw delivery on)."""
    return _unwrap(body)[0]


def _unwrap(body: str) -> tuple[dict[str, Any], datetime | None]:
    """(message, the envelope's publish time when there is an envelope)."""
    envelope = load_json_object(body, "SQS message body")
    if envelope.get("Type") == "Notification" and "Message" in envelope:
        message = load_json_object(str(envelope["Message"]), "SNS Message")
        return message, parse_time(envelope.get("Timestamp"))
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
