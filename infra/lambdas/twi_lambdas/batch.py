"""Partial batch responses: one bad record never blocks or loses the others.

The event source mapping must enable ``ReportBatchItemFailures``; then only the message ids
returned here go back to the queue (and, after ``MAX_RECEIVE_COUNT`` receives, to the DLQ).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from twi_lambdas.errors import ConfigurationError, Poison, Transient
from twi_lambdas.events import SqsRecord, parse_sqs_event

logger = logging.getLogger(__name__)

BatchResponse = dict[str, list[dict[str, str]]]


def process_batch(event: Mapping[str, Any], handle: Callable[[SqsRecord], object]) -> BatchResponse:
    """Call ``handle`` on each record; collect the ids of those that must be retried.

    ``Rejected`` never reaches here (the record functions turn it into a ``failed/``
    record). ``Transient``, ``Poison`` and any unexpected exception mean "retry this one".
    A ``ConfigurationError`` would fail every record the same way, so it propagates and the
    whole invocation fails loudly.
    """
    failures: list[dict[str, str]] = []
    for record in parse_sqs_event(event):
        try:
            handle(record)
        except ConfigurationError:
            raise
        except Poison as exc:
            logger.error(
                "unreadable message %s (receive %d): %s", record.message_id, record.receive_count, exc
            )
            failures.append({"itemIdentifier": record.message_id})
        except Transient as exc:
            logger.warning(
                "will retry message %s (receive %d): %s", record.message_id, record.receive_count, exc
            )
            failures.append({"itemIdentifier": record.message_id})
        except Exception:
            logger.exception(
                "unexpected error on message %s (receive %d)", record.message_id, record.receive_count
            )
            failures.append({"itemIdentifier": record.message_id})
    return {"batchItemFailures": failures}
