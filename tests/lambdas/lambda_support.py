"""Constants and helpers shared by the Lambda tests (kept out of conftest.py so that test
modules import them by a name no other test folder uses)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from twi_asr.local.lambda_runtime import LambdaContext

REGION = "us-east-1"
BUCKET = "twi-asr-data-123456789012-us-east-1"
ENDPOINT = "twi-asr-whisper"


class _InvocationContext(LambdaContext):
    """The local stack's context, as if each call were the start of an invocation: one shared
    object outlives many tests, and submit stops taking records when time runs short."""

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


CONTEXT = _InvocationContext("twi-asr-test", timeout_s=60, memory_mb=256)


@dataclass
class Invocations:
    """What the functions sent to InvokeEndpointAsync, captured by a botocore event hook on
    the real client (the request still goes to moto)."""

    calls: list[dict[str, Any]] = field(default_factory=list)

    def capture(self, params: dict[str, Any], **_: Any) -> None:
        self.calls.append(dict(params))


def sqs_queue(sqs: Any, name: str) -> tuple[str, str]:
    """A new queue's URL and ARN."""
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def created_events(sqs: Any, url: str) -> list[dict[str, Any]]:
    """The ObjectCreated records S3 has sent to the queue at ``url`` since the last call."""
    out = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            body = json.loads(message["Body"])
            out += [r for r in body.get("Records", []) if r.get("eventName", "").startswith("ObjectCreated")]
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return out


def exists(s3: Any, key: str) -> bool:
    try:
        s3.head_object(Bucket=BUCKET, Key=key)
    except ClientError:
        return False
    return True


def source_of(s3: Any, call: dict[str, Any]) -> str:
    """The upload an InvokeEndpointAsync call transcribes: its InputLocation is the pinned
    copy (``async-input/uploads/<inference id>``), byte for byte the upload's version."""
    from twi_lambdas import inputs, keys

    bucket, key = keys.parse_s3_uri(call["InputLocation"])
    assert key == inputs.input_key(call["InferenceId"])
    upload = inputs.read(s3, bucket, key)
    assert upload is not None
    copied = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    original = s3.get_object(
        Bucket=bucket, Key=upload.key, **({"VersionId": upload.version_id} if upload.version_id else {})
    )
    assert copied == original["Body"].read()
    return upload.key
