"""Create the bucket, queues, DLQs, topics, subscriptions and the S3 notification locally.

Mirrors the CDK stack resource for resource (names from ``twi_lambdas.names``, retention and
visibility timeouts from ``twi_infra.runtime_values``): a message that fails
``max_receive_count`` times moves to its DLQ, the result queue receives both SNS
topics in their standard envelope (raw message delivery off, as in the CDK stack), and only
objects created under ``audio/`` notify the submit queue, so writing a transcript can never
trigger work.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3
from twi_infra.runtime_values import DLQ_RETENTION_S, QUEUE_RETENTION_S, WORKERS
from twi_lambdas import names

from twi_asr.local.config import LocalConfig


@dataclass(frozen=True)
class Resources:
    """What was created: the URLs and ARNs the rest of the stack wires together."""

    bucket: str
    submit_queue_url: str
    submit_queue_arn: str
    submit_dlq_url: str
    result_queue_url: str
    result_queue_arn: str
    result_dlq_url: str
    success_topic_arn: str
    error_topic_arn: str

    @property
    def queue_urls(self) -> dict[str, str]:
        """Every queue by logical name (for draining checks and the state file)."""
        return {
            names.SUBMIT_QUEUE: self.submit_queue_url,
            names.SUBMIT_DLQ: self.submit_dlq_url,
            names.RESULT_QUEUE: self.result_queue_url,
            names.RESULT_DLQ: self.result_dlq_url,
        }


def provision(session: boto3.session.Session, endpoint_url: str, config: LocalConfig) -> Resources:
    """Create everything in the (empty) moto server at ``endpoint_url``."""
    s3: Any = session.client("s3", endpoint_url=endpoint_url)
    sqs: Any = session.client("sqs", endpoint_url=endpoint_url)
    sns: Any = session.client("sns", endpoint_url=endpoint_url)

    bucket_args: dict[str, Any] = {"Bucket": config.bucket}
    if config.region != "us-east-1":  # S3's one region that takes no LocationConstraint
        bucket_args["CreateBucketConfiguration"] = {"LocationConstraint": config.region}
    s3.create_bucket(**bucket_args)
    s3.put_bucket_versioning(Bucket=config.bucket, VersioningConfiguration={"Status": "Enabled"})

    urls = {}
    for worker in WORKERS:
        urls[worker.dlq] = _queue(
            sqs, config.queue_name(worker.dlq), {"MessageRetentionPeriod": DLQ_RETENTION_S}
        )
        redrive = {
            "deadLetterTargetArn": config.queue_arn(worker.dlq),
            "maxReceiveCount": config.max_receive_count,
        }
        attributes = {
            "MessageRetentionPeriod": QUEUE_RETENTION_S,
            "VisibilityTimeout": worker.visibility_timeout_s,
            "RedrivePolicy": json.dumps(redrive),
        }
        urls[worker.queue] = _queue(sqs, config.queue_name(worker.queue), attributes)
    submit_queue_arn = config.queue_arn(names.SUBMIT_QUEUE)
    result_queue_arn = config.queue_arn(names.RESULT_QUEUE)

    topics = {}
    for logical in (names.SUCCESS_TOPIC, names.ERROR_TOPIC):
        arn = sns.create_topic(Name=config.topic_name(logical))["TopicArn"]
        sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=result_queue_arn, ReturnSubscriptionArn=True)
        topics[logical] = arn

    s3.put_bucket_notification_configuration(
        Bucket=config.bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": "audio-uploads",
                    "QueueArn": submit_queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": names.AUDIO_PREFIX}]}},
                }
            ]
        },
    )
    return Resources(
        bucket=config.bucket,
        submit_queue_url=urls[names.SUBMIT_QUEUE],
        submit_queue_arn=submit_queue_arn,
        submit_dlq_url=urls[names.SUBMIT_DLQ],
        result_queue_url=urls[names.RESULT_QUEUE],
        result_queue_arn=result_queue_arn,
        result_dlq_url=urls[names.RESULT_DLQ],
        success_topic_arn=topics[names.SUCCESS_TOPIC],
        error_topic_arn=topics[names.ERROR_TOPIC],
    )


def _queue(sqs: Any, name: str, attributes: dict[str, Any]) -> str:
    url: str = sqs.create_queue(
        QueueName=name, Attributes={key: str(value) for key, value in attributes.items()}
    )["QueueUrl"]
    return url
