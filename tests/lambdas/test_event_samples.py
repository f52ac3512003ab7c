"""The samples in events/ parse as intended, and match what moto itself delivers for S3 ->
SQS and SNS -> SQS (so the samples and the parsers agree with a real implementation)."""

from __future__ import annotations

import json
from typing import Any

import boto3
from aws_lambda_powertools.utilities.data_classes import SQSEvent
from lambda_events import EVENTS_DIR, load
from lambda_support import BUCKET, REGION, sqs_queue
from twi_lambdas.events import (
    STATUS_COMPLETED,
    STATUS_FAILED,
    parse_async_notification,
    parse_s3_notification,
)


def body_of(sample: str) -> str:
    """The body of the one record of an SQS sample, read through Powertools' data class."""
    (record,) = SQSEvent(load(sample)).records
    return record.body


def test_every_sample_is_utf8_json() -> None:
    names = sorted(p.name for p in EVENTS_DIR.glob("*.json"))
    assert len(names) >= 11
    for name in names:
        assert isinstance(load(name), dict), name


def test_s3_samples() -> None:
    (obj,) = parse_s3_notification(json.dumps(load("s3-put")))
    assert obj.key == "audio/greetings/Me din de Kɔfi + ɛna.wav"
    assert obj.size == 352844 and obj.etag == "d41d8cd98f00b204e9800998ecf8427e"
    assert obj.version_id and obj.event_time
    assert parse_s3_notification(json.dumps(load("s3-test-event"))) == []
    assert parse_s3_notification(body_of("sqs-s3-put")) == [obj]
    assert parse_s3_notification(body_of("sqs-s3-test-event")) == []


def test_sagemaker_samples() -> None:
    success = parse_async_notification(body_of("sqs-sns-async-success"))
    assert success is not None and success.status == STATUS_COMPLETED
    assert success.input_location.endswith("audio/greetings/Me din de Kɔfi + ɛna.wav")
    assert success.output_location and success.output_location.endswith(".out")
    failure = parse_async_notification(body_of("sqs-sns-async-failure"))
    assert failure is not None and failure.status == STATUS_FAILED and failure.output_location is None
    assert failure.failure_reason and "could not decode" in failure.failure_reason
    assert parse_async_notification(body_of("sqs-sns-async-test-notification")) is None
    # raw message delivery on: the body is the SageMaker message itself
    assert parse_async_notification(load("sns-async-success")["Message"]) == success


def test_moto_s3_notifications_parse_like_the_samples(s3: Any, uploads_queue: tuple[Any, str]) -> None:
    sqs, url = uploads_queue
    key = "audio/Kɔfi ne Ama + ɛna.mp3"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"ID3" + bytes(100))
    bodies = [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]]
    parsed = [parse_s3_notification(b) for b in bodies]
    assert [] in parsed  # the s3:TestEvent sent when the notification was configured
    (obj,) = [o for batch in parsed for o in batch]
    assert obj.key == key and obj.bucket == BUCKET and obj.size == 103


def test_moto_sns_envelopes_parse_like_the_samples(moto_aws: None) -> None:
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    url, arn = sqs_queue(sqs, "result-queue")
    topic = sns.create_topic(Name="error-topic")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    sns.publish(TopicArn=topic, Message=load("sns-async-failure")["Message"])
    (message,) = sqs.receive_message(QueueUrl=url)["Messages"]
    envelope = json.loads(message["Body"])
    assert set(load("sns-async-failure")) <= set(envelope) | {"Subject"}
    parsed = parse_async_notification(message["Body"])
    assert parsed == parse_async_notification(body_of("sqs-sns-async-failure"))
