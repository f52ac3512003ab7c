"""Helpers shared by the local-stack tests (a uniquely named module: tests have no packages)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twi_asr.local.config import LocalConfig
from twi_asr.local.moto_server import MotoServer
from twi_asr.local.provision import Resources

# Few receives and no retry delay, so redrive to a DLQ happens within a test's patience.
FAST_REDRIVE = LocalConfig(max_receive_count=2, retry_delay_s=0, poll_wait_s=1)


@dataclass
class MotoAws:
    server: MotoServer
    config: LocalConfig
    resources: Resources
    s3: Any
    sqs: Any
    sns: Any


def drain(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Receive (and delete) everything visible in a queue."""
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, MessageSystemAttributeNames=["All"]
        ).get("Messages", [])
        if not batch:
            return messages
        for message in batch:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        messages.extend(batch)
