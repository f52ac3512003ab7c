"""The SQS event source mapping emulation: Lambda's record shape and its batch-failure rules,
on a real moto server. Polling is driven step by step (``poll_once``) so each receive is seen."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from local_stack_helpers import MotoAws, drain

from twi_asr.local.event_source import SqsEventSource, failed_message_ids


def make_source(
    aws: MotoAws, invoke: Any, batch_size: int = 10, batching_window_s: float = 0.0
) -> SqsEventSource:
    return SqsEventSource(
        name="test",
        sqs=aws.sqs,
        queue_url=aws.resources.submit_queue_url,
        queue_arn=aws.resources.submit_queue_arn,
        region=aws.config.region,
        invoke=invoke,
        batch_size=batch_size,
        wait_s=1,
        retry_delay_s=aws.config.retry_delay_s,
        pollers=1,
        batching_window_s=batching_window_s,
    )


class Recorder:
    """A handler that records its events and fails the records whose body is in ``fail``."""

    def __init__(self, fail: set[str] | None = None, response: Any = None, error: bool = False) -> None:
        self.events: list[dict[str, Any]] = []
        self.fail = fail or set()
        self.response = response
        self.error = error

    def __call__(self, event: dict[str, Any]) -> Any:
        self.events.append(event)
        if self.error:
            raise RuntimeError("handler crashed")
        if self.response is not None:
            return self.response
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] in self.fail
            ]
        }

    def bodies(self) -> list[list[str]]:
        return [[r["body"] for r in e["Records"]] for e in self.events]


@pytest.mark.parametrize(
    ("response", "failed"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, {"b"}),
        ({"batchItemFailures": [{"itemIdentifier": "zz"}]}, {"a", "b"}),  # not in the batch
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, {"a", "b"}),
        ({"batchItemFailures": [{"itemIdentifier": None}]}, {"a", "b"}),
        ({"batchItemFailures": "b"}, {"a", "b"}),
        ("not a dict", {"a", "b"}),
    ],
)
def test_batch_item_failure_rules(response: Any, failed: set[str]) -> None:
    assert failed_message_ids(response, ["a", "b"]) == failed


def test_records_have_the_lambda_sqs_shape(moto_aws: MotoAws) -> None:
    drain(moto_aws.sqs, moto_aws.resources.submit_queue_url)
    moto_aws.sqs.send_message(
        QueueUrl=moto_aws.resources.submit_queue_url,
        MessageBody="hello ɔ",
        MessageAttributes={
            "kind": {"DataType": "String", "StringValue": "test"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )
    recorder = Recorder()
    assert make_source(moto_aws, recorder).poll_once() == 1
    (record,) = recorder.events[0]["Records"]
    assert set(record) == {
        "messageId", "receiptHandle", "body", "attributes", "messageAttributes",
        "md5OfBody", "eventSource", "eventSourceARN", "awsRegion",
    }  # fmt: skip
    assert record["body"] == "hello ɔ"
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == moto_aws.resources.submit_queue_arn
    assert record["awsRegion"] == moto_aws.config.region
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= set(record["attributes"])
    assert record["messageAttributes"]["kind"] == {
        "stringValue": "test", "stringListValues": [], "binaryListValues": [], "dataType": "String"
    }  # fmt: skip
    assert record["messageAttributes"]["blob"]["binaryValue"] == "AAE="
    # Succeeded: deleted, nothing comes back.
    assert drain(moto_aws.sqs, moto_aws.resources.submit_queue_url) == []


def test_partial_failure_deletes_the_rest_and_redrives_the_failed_one(moto_aws: MotoAws) -> None:
    sqs, resources, config = moto_aws.sqs, moto_aws.resources, moto_aws.config
    drain(sqs, resources.submit_queue_url)
    for body in ("ok-1", "poison", "ok-2"):
        sqs.send_message(QueueUrl=resources.submit_queue_url, MessageBody=body)
    recorder = Recorder(fail={"poison"})
    source = make_source(moto_aws, recorder)
    while source.poll_once():
        pass
    # First batch: all three; then the poison alone, once per receive up to maxReceiveCount.
    assert sorted(recorder.bodies()[0]) == ["ok-1", "ok-2", "poison"]
    assert recorder.bodies()[1:] == [["poison"]] * (config.max_receive_count - 1)
    receive_counts = [e["Records"][-1]["attributes"]["ApproximateReceiveCount"] for e in recorder.events[1:]]
    assert receive_counts == [str(n) for n in range(2, config.max_receive_count + 1)]
    assert source.stats.succeeded == 2 and source.stats.failed == config.max_receive_count
    (dead,) = drain(sqs, resources.submit_dlq_url)
    assert dead["Body"] == "poison"
    assert drain(sqs, resources.submit_queue_url) == []


@pytest.mark.parametrize(
    "recorder",
    [Recorder(error=True), Recorder(response={"batchItemFailures": [{"itemIdentifier": "unknown"}]})],
    ids=["handler-raises", "unknown-item-identifier"],
)
def test_a_failed_invocation_retries_the_whole_batch(moto_aws: MotoAws, recorder: Recorder) -> None:
    sqs, resources = moto_aws.sqs, moto_aws.resources
    drain(sqs, resources.submit_queue_url)
    for body in ("a", "b"):
        sqs.send_message(QueueUrl=resources.submit_queue_url, MessageBody=body)
    source = make_source(moto_aws, recorder)
    assert source.poll_once() == 2
    assert source.poll_once() == 2  # both visible again (retry delay 0), received a second time
    assert {r["attributes"]["ApproximateReceiveCount"] for r in recorder.events[1]["Records"]} == {"2"}
    assert source.poll_once() == 0  # maxReceiveCount reached: redriven on this receive
    assert sorted(m["Body"] for m in drain(sqs, resources.submit_dlq_url)) == ["a", "b"]


def test_pollers_run_in_threads_and_stop_promptly(moto_aws: MotoAws) -> None:
    sqs, resources = moto_aws.sqs, moto_aws.resources
    drain(sqs, resources.submit_queue_url)
    recorder = Recorder()
    source = make_source(moto_aws, recorder, batch_size=2)
    source.start()
    try:
        for n in range(5):
            sqs.send_message(QueueUrl=resources.submit_queue_url, MessageBody=f"m{n}")
        deadline = time.monotonic() + 20
        while source.stats.succeeded < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        started = time.monotonic()
        source.stop()
        stop_s = time.monotonic() - started
    assert sorted(b for batch in recorder.bodies() for b in batch) == [f"m{n}" for n in range(5)]
    assert all(len(batch) <= 2 for batch in recorder.bodies())  # the batch size is honoured
    assert stop_s < 5  # a long poll lasts at most wait_s


def test_the_batching_window_gathers_messages_that_arrive_together(moto_aws: MotoAws) -> None:
    """Like MaximumBatchingWindowInSeconds: messages sent one after another within the window
    reach the function as one batch (submit coalesces them), up to the batch size; without a
    window the first message goes alone."""
    sqs, resources = moto_aws.sqs, moto_aws.resources

    def batches(window_s: float) -> list[list[str]]:
        drain(sqs, resources.submit_queue_url)
        sqs.send_message(QueueUrl=resources.submit_queue_url, MessageBody="first")

        def send_the_rest() -> None:
            for n in range(4):
                # 1 s apart: without a window the first receive must come before the next
                # message, and on a loaded machine (2 cores, the suite's other worker running
                # a model) a receive once took longer than 0.2 s
                time.sleep(1.0)
                sqs.send_message(QueueUrl=resources.submit_queue_url, MessageBody=f"then-{n}")

        sender = threading.Thread(target=send_the_rest)
        sender.start()
        recorder = Recorder()
        try:
            make_source(moto_aws, recorder, batch_size=3, batching_window_s=window_s).poll_once()
        finally:
            sender.join()
        return recorder.bodies()

    assert batches(0.0) == [["first"]]
    assert batches(5.0) == [["first", "then-0", "then-1"]]  # the batch size still caps it
