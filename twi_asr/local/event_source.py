"""Lambda's SQS event source mapping, emulated: long-poll, invoke with a batch, acknowledge.

Semantics follow the Lambda documentation for SQS with ``ReportBatchItemFailures`` (what the
CDK stack configures): the handler gets the documented record shape; messages it did not
report in ``batchItemFailures`` are deleted; reported ones stay in the queue and come back
after the visibility timeout, so the queue's redrive policy moves a message that keeps failing
to its DLQ. A handler error, a timeout or a malformed response fails the whole batch, as does
an ``itemIdentifier`` that is empty or not in the batch.

Like ``MaximumBatchingWindowInSeconds``, a poller that has received part of a batch keeps
receiving for up to ``batching_window_s`` to fill it before it invokes: uploads that arrive
together reach the function together (submit coalesces them into one endpoint request).

One deliberate local difference: a failed message is made visible again after
``retry_delay_s`` instead of the queue's full visibility timeout, so retries take seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

_REFILL_PAUSE_S = 0.1  # between receives while a batch fills within its window
SQS_MAX_RECEIVE = 10  # ReceiveMessage returns at most this many messages per call


@dataclass
class SourceStats:
    records: int = 0
    succeeded: int = 0
    failed: int = 0
    errors: int = 0  # whole-batch failures (handler raised / bad response)


def lambda_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One SQS message as a Lambda ``Records[]`` entry (attribute names as Lambda spells them)."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: _lambda_message_attribute(value)
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def _lambda_message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues", [])),
        "binaryListValues": list(value.get("BinaryListValues", [])),
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        converted["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        import base64

        converted["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return converted


def failed_message_ids(response: Any, batch_ids: list[str]) -> set[str]:
    """Which messages of the batch failed, by Lambda's rules for a handler's response.

    ``None``/``{}``/no ``batchItemFailures``/an empty list: all succeeded. Anything
    malformed, or an identifier that is empty or not in the batch: the whole batch failed.
    """
    everything = set(batch_ids)
    if response is None:
        return set()
    if not isinstance(response, dict):
        return everything
    failures = response.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return everything
    failed: set[str] = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or identifier not in everything:
            return everything
        failed.add(identifier)
    return failed


class SqsEventSource:
    """Poller threads feeding one queue to one function."""

    def __init__(
        self,
        *,
        name: str,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        region: str,
        invoke: Callable[[dict[str, Any]], Any],
        batch_size: int,
        wait_s: int,
        retry_delay_s: int,
        pollers: int,
        batching_window_s: float = 0.0,
    ) -> None:
        self.name = name
        self._sqs = sqs
        self._queue_url = queue_url
        self._queue_arn = queue_arn
        self._region = region
        self._invoke = invoke
        self._batch_size = batch_size
        self._wait_s = wait_s
        self._retry_delay_s = retry_delay_s
        self._pollers = pollers
        self._batching_window_s = batching_window_s
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._busy = 0
        self.stats = SourceStats()

    def start(self) -> None:
        self._stop.clear()
        for index in range(self._pollers):
            thread = threading.Thread(target=self._poll, name=f"{self.name}-poller-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def signal_stop(self) -> None:
        """Ask the pollers to stop after their current long poll or batch (does not wait)."""
        self._stop.set()

    def stop(self, timeout_s: float = 120.0) -> None:
        """Stop polling; a batch being processed is finished and acknowledged first."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout_s)
        self._threads.clear()

    @property
    def busy(self) -> bool:
        """True while a batch has been received and not yet acknowledged."""
        with self._lock:
            return self._busy > 0

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # keep polling, as the service does, but say why
                log.exception("%s: polling failed", self.name)
                self._stop.wait(1.0)

    def poll_once(self) -> int:
        """Receive one batch (long poll, then up to the batching window to fill it), deliver
        it, acknowledge it. Returns its size."""
        messages = self._receive(self._batch_size, self._wait_s)
        deadline = time.monotonic() + self._batching_window_s
        while messages and len(messages) < self._batch_size and not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            more = self._receive(self._batch_size - len(messages), 0)
            messages += more
            if not more:
                self._stop.wait(min(left, _REFILL_PAUSE_S))
        if messages:
            with self._lock:
                self._busy += 1
            try:
                self._deliver(messages)
            finally:
                with self._lock:
                    self._busy -= 1
        return len(messages)

    def _receive(self, count: int, wait_s: int) -> list[dict[str, Any]]:
        """Up to ``count`` messages, at most SQS's 10 per call (a larger batch fills over
        several calls within the batching window, as Lambda's poller does)."""
        messages: list[dict[str, Any]] = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=min(count, SQS_MAX_RECEIVE),
            WaitTimeSeconds=wait_s,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        return messages

    def _deliver(self, messages: list[dict[str, Any]]) -> None:
        event = {"Records": [lambda_record(m, self._queue_arn, self._region) for m in messages]}
        ids = [m["MessageId"] for m in messages]
        try:
            failed = failed_message_ids(self._invoke(event), ids)
            whole_batch_error = False
        except Exception as exc:
            log.warning("%s: the batch of %d failed: %s", self.name, len(ids), exc)
            failed, whole_batch_error = set(ids), True
        done = [m for m in messages if m["MessageId"] not in failed]
        retry = [m for m in messages if m["MessageId"] in failed]
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        if retry:
            self._sqs.change_message_visibility_batch(
                QueueUrl=self._queue_url,
                Entries=[
                    {
                        "Id": str(i),
                        "ReceiptHandle": m["ReceiptHandle"],
                        "VisibilityTimeout": self._retry_delay_s,
                    }
                    for i, m in enumerate(retry)
                ],
            )
        with self._lock:
            self.stats.records += len(messages)
            self.stats.succeeded += len(done)
            self.stats.failed += len(retry)
            self.stats.errors += int(whole_batch_error)
