"""The one loader of the sample events in ``events/``: load a sample, swap in the bucket,
key, sizes and ids a test needs, and wrap it the way SQS / SNS wrap it.

Every event a test feeds to a handler starts from a file in ``events/``, so the samples
stay true: if they drift from what the handlers accept, tests fail.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"


def load(name: str) -> dict[str, Any]:
    """A sample event, parsed (``name`` with or without ``.json``)."""
    file = EVENTS_DIR / (name if name.endswith(".json") else f"{name}.json")
    with open(file, encoding="utf-8") as f:
        value = json.load(f)
    assert isinstance(value, dict)
    return value


def s3_put(bucket: str, key: str, size: int, etag: str, event_time: str | None = None) -> dict[str, Any]:
    """``events/s3-put.json`` for another (unversioned) object; the key encoded as S3 writes it
    into event notifications: form-encoded UTF-8, '/' kept."""
    event = load("s3-put")
    record = event["Records"][0]
    if event_time:
        record["eventTime"] = event_time
    record["s3"]["bucket"]["name"] = bucket
    record["s3"]["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
    obj = record["s3"]["object"]
    obj.update(key=quote_plus(key, safe="/"), size=size, eTag=etag.strip('"'))
    del obj["versionId"]
    return event


def s3_test_event(bucket: str) -> dict[str, Any]:
    event = load("s3-test-event")
    event["Bucket"] = bucket
    return event


def sqs_event(
    *bodies: str | dict[str, Any], receive_count: int = 1, template: str = "sqs-s3-put"
) -> dict[str, Any]:
    """An SQS Lambda event with one record per body, shaped like ``template``'s record."""
    record_template = load(template)["Records"][0]
    records = []
    for i, body in enumerate(bodies):
        record = copy.deepcopy(record_template)
        record["messageId"] = f"{record_template['messageId'][:-4]}{i:04d}"
        record["body"] = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
        record["attributes"]["ApproximateReceiveCount"] = str(receive_count)
        records.append(record)
    return {"Records": records}


def async_notification(
    status: str,
    bucket: str,
    key: str,
    inference_id: str,
    output_location: str | None = None,
    endpoint: str | None = None,
    event_time: str | None = None,
    received_time: str | None = None,
    failure_reason: str | None = None,
) -> dict[str, Any]:
    """A SageMaker async notification (the SNS Message) from the success or failure sample."""
    sample = "sns-async-success" if status == "Completed" else "sns-async-failure"
    message = json.loads(load(sample)["Message"])
    message["inferenceId"] = inference_id
    message["requestParameters"]["inputLocation"] = f"s3://{bucket}/{key}"
    if endpoint:
        message["requestParameters"]["endpointName"] = endpoint
    if event_time:
        message["eventTime"] = event_time
    if received_time:
        message["receivedTime"] = received_time
    if status == "Completed":
        assert output_location, "a Completed notification needs its output location"
        message["responseParameters"]["outputLocation"] = output_location
    elif failure_reason is not None:
        message["failureReason"] = failure_reason
    return message


def _sns_sample(message: dict[str, Any]) -> str:
    return "sns-async-success" if message["invocationStatus"] == "Completed" else "sns-async-failure"


def sns_envelope(message: dict[str, Any]) -> str:
    """The SQS body SNS delivers (raw message delivery off) for ``message``, from the sample of
    its topic (success or error)."""
    envelope = load(_sns_sample(message))
    envelope["Message"] = json.dumps(message, ensure_ascii=False)
    return json.dumps(envelope, ensure_ascii=False)


def notification_event(message: dict[str, Any], receive_count: int = 1) -> dict[str, Any]:
    """The complete function's SQS event for one SageMaker notification."""
    template = f"sqs-{_sns_sample(message)}"
    return sqs_event(sns_envelope(message), receive_count=receive_count, template=template)
