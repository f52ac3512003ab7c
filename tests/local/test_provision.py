"""The local AWS side really behaves like the CDK stack: moto server mode delivers S3 -> SQS
notifications only for ``audio/``, SNS -> SQS in the standard envelope, and redrives to DLQs."""

from __future__ import annotations

import json
from urllib.parse import unquote_plus

from local_stack_helpers import MotoAws, drain
from twi_infra.runtime_values import DLQ_RETENTION_S, WORKERS
from twi_lambdas import names


def test_resources_match_the_shared_names(moto_aws: MotoAws) -> None:
    sqs, config = moto_aws.sqs, moto_aws.config
    for worker in WORKERS:
        url = sqs.get_queue_url(QueueName=config.queue_name(worker.queue))["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        redrive = json.loads(attributes["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"] == config.queue_arn(worker.dlq)
        assert int(redrive["maxReceiveCount"]) == config.max_receive_count
        assert int(attributes["VisibilityTimeout"]) == 6 * worker.timeout_s  # the stack's 6 x the timeout
        dlq_url = sqs.get_queue_url(QueueName=config.queue_name(worker.dlq))["QueueUrl"]
        dlq = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["MessageRetentionPeriod"])
        assert int(dlq["Attributes"]["MessageRetentionPeriod"]) == DLQ_RETENTION_S
    topics = {t["TopicArn"] for t in moto_aws.sns.list_topics()["Topics"]}
    assert topics == {config.topic_arn(names.SUCCESS_TOPIC), config.topic_arn(names.ERROR_TOPIC)}
    notification = moto_aws.s3.get_bucket_notification_configuration(Bucket=config.bucket)
    (queue_config,) = notification["QueueConfigurations"]
    assert queue_config["QueueArn"] == config.queue_arn(names.SUBMIT_QUEUE)
    rules = queue_config["Filter"]["Key"]["FilterRules"]
    assert [(r["Name"].lower(), r["Value"]) for r in rules] == [("prefix", names.AUDIO_PREFIX)]


def test_s3_notifies_the_submit_queue_for_audio_only(moto_aws: MotoAws) -> None:
    s3, sqs, resources = moto_aws.s3, moto_aws.sqs, moto_aws.resources
    drain(sqs, resources.submit_queue_url)  # the s3:TestEvent sent when the notification was set
    key = "audio/Ɔkɔmfo ɛnnɛ+1.mp3"
    s3.put_object(Bucket=resources.bucket, Key=key, Body=b"audio bytes")
    s3.put_object(Bucket=resources.bucket, Key="transcripts/Ɔkɔmfo ɛnnɛ+1.mp3.json", Body=b"{}")
    s3.put_object(Bucket=resources.bucket, Key="failed/x.json", Body=b"{}")
    messages = drain(sqs, resources.submit_queue_url)
    assert len(messages) == 1
    (record,) = json.loads(messages[0]["Body"])["Records"]
    assert record["eventSource"] == "aws:s3" and record["eventName"].startswith("ObjectCreated:")
    assert record["s3"]["bucket"]["name"] == resources.bucket
    assert "%C9%94" in record["s3"]["object"]["key"]  # URL-encoded, as S3 sends it
    assert unquote_plus(record["s3"]["object"]["key"]) == key
    assert record["s3"]["object"]["size"] == len(b"audio bytes")


def test_both_topics_reach_the_result_queue_in_the_sns_envelope(moto_aws: MotoAws) -> None:
    sns, sqs, resources = moto_aws.sns, moto_aws.sqs, moto_aws.resources
    for topic in (resources.success_topic_arn, resources.error_topic_arn):
        sns.publish(TopicArn=topic, Message=json.dumps({"eventName": "InferenceResult", "topic": topic}))
    bodies = [json.loads(m["Body"]) for m in drain(sqs, resources.result_queue_url)]
    assert sorted(b["TopicArn"] for b in bodies) == sorted(
        [resources.success_topic_arn, resources.error_topic_arn]
    )
    for body in bodies:
        assert body["Type"] == "Notification"  # raw message delivery off, as in the CDK stack
        assert json.loads(body["Message"])["topic"] == body["TopicArn"]


def test_a_message_received_too_often_moves_to_the_dlq(moto_aws: MotoAws) -> None:
    sqs, resources, config = moto_aws.sqs, moto_aws.resources, moto_aws.config
    drain(sqs, resources.submit_queue_url)
    sqs.send_message(QueueUrl=resources.submit_queue_url, MessageBody="poison")
    for _ in range(config.max_receive_count):
        (message,) = sqs.receive_message(QueueUrl=resources.submit_queue_url, WaitTimeSeconds=1)["Messages"]
        sqs.change_message_visibility(
            QueueUrl=resources.submit_queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    assert sqs.receive_message(QueueUrl=resources.submit_queue_url, WaitTimeSeconds=0).get("Messages") is None
    (dead,) = drain(sqs, resources.submit_dlq_url)
    assert dead["Body"] == "poison"
