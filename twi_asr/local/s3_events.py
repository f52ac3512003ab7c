"""S3 event notifications as S3 sends them, not as moto 5.2.5 does.

moto's ObjectCreated records carry neither ``versionId`` nor ``sequencer``; the pipeline
orders results by the sequencer of the upload they come from (newest upload wins), and pins
the exact version it transcribes. S3 documents the sequencer as a hexadecimal string that
grows with the events on one key. Here it grows with every write in this process, starting
from the clock, so it also keeps growing across restarts of the local stack.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

from moto.s3 import notifications

_original = notifications._get_s3_event
_lock = threading.Lock()
_counter = itertools.count(time.time_ns() // 1000)  # microseconds: larger than any earlier run's


def next_sequencer() -> str:
    with _lock:
        return f"{next(_counter):016X}"


def _get_s3_event(event_name: str, bucket: Any, key: Any, notification_id: str) -> dict[str, Any]:
    event: dict[str, Any] = _original(event_name, bucket, key, notification_id)
    for record in event["Records"]:
        obj = record["s3"]["object"]
        obj["sequencer"] = next_sequencer()
        if getattr(key, "version_id", None) not in (None, "null"):
            obj["versionId"] = key.version_id
    return event


def install() -> None:
    """Make moto's S3 notifications carry ``versionId`` and a growing ``sequencer`` (idempotent)."""
    notifications._get_s3_event = _get_s3_event
