"""What both functions run on: Powertools' Logger, Tracer and Metrics, and its SQS batch
processor with our retry policy (see ``errors``).

Powertools comes from the AWS-managed layer in AWS (``twi_infra.functions``) and from the
project's dependencies in tests and the local stack: the same pinned version.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from twi_lambdas import names
from twi_lambdas.errors import ConfigurationError, Poison, Transient

_SERVICE = os.environ.get(names.ENV_SERVICE_NAME) or names.SERVICE_NAME
logger = Logger(service=_SERVICE)
tracer = Tracer(service=_SERVICE)
# service="": no "service" dimension, so the metrics stay those the dashboard and alarms read
metrics = Metrics(service="")


def receive_count(record: SQSRecord) -> int:
    """1 on the first delivery."""
    try:
        return int(record.attributes.approximate_receive_count)
    except (KeyError, TypeError, ValueError):
        return 1


# What ``process_batch``'s ``flush`` returns: the records whose deferred work failed, and why.
DeferredFailures = Iterable[tuple[SQSRecord, BaseException]]


class _Processor(BatchProcessor):
    """Partial batch responses: a failed record goes back to the queue (and after
    ``MAX_RECEIVE_COUNT`` receives to the DLQ) without holding up the others."""

    def _prepare(self) -> None:
        super()._prepare()
        self._failed_ids: set[str] = set()

    def fail_later(self, record: SQSRecord, error: BaseException) -> None:
        """A record whose deferred work failed after its handler returned: the same policy as
        a handler's exception; reported once however many of its parts failed."""
        exception = (type(error), error, error.__traceback__)
        if record.message_id in self._failed_ids:
            self._apply_policy(record, error, exception)
        else:
            self.failure_handler(record, exception)

    def failure_handler(self, record: SQSRecord, exception: Any) -> Any:
        self._apply_policy(record, exception[1], exception)
        self._failed_ids.add(record.message_id)
        return super().failure_handler(record, exception)

    def _apply_policy(self, record: SQSRecord, error: BaseException, exception: Any) -> None:
        if isinstance(error, ConfigurationError):  # every record would fail: fail loudly
            raise error
        count = receive_count(record)
        if isinstance(error, Transient):
            logger.warning("will retry message %s (receive %d): %s", record.message_id, count, error)
            if error.give_up is not None and count >= names.MAX_RECEIVE_COUNT:  # last delivery
                try:
                    error.give_up(count)
                except Exception:
                    logger.exception("could not record the failure of message %s", record.message_id)
        elif isinstance(error, Poison):
            logger.error("unreadable message %s (receive %d): %s", record.message_id, count, error)
        else:
            logger.error(
                "unexpected error on message %s (receive %d)", record.message_id, count, exc_info=exception
            )


def process_batch(
    event: dict[str, Any],
    context: Any,
    handle: Callable[[SQSRecord], object],
    flush: Callable[[], DeferredFailures] | None = None,
) -> PartialItemFailureResponse:
    """Call ``handle`` on each record, then ``flush``: the work ``handle`` deferred until every
    record was seen (submit's coalesced requests). A record ``flush`` names failed after all:
    it is retried, under the same policy as a record whose ``handle`` raised."""

    def record_handler(record: SQSRecord) -> object:
        logger.set_correlation_id(record.message_id)
        return handle(record)

    processor = _Processor(EventType.SQS, raise_on_entire_batch_failure=False)
    records = event.get("Records")
    if not isinstance(records, list):
        raise ValueError("not an SQS event: no 'Records' list")
    with processor(records, record_handler, context):
        processor.process()
        if flush is not None:
            logger.set_correlation_id(None)
            for record, error in flush():
                processor.fail_later(record, error)
    return processor.response()


def emit(namespace: str, endpoint: str, values: Mapping[str, float], **metadata: Any) -> None:
    """One EMF document per record, as its own line: its endpoint as the dimension, its ids
    as searchable metadata. Names come from ``names.METRIC_UNITS`` (a typo is a KeyError)."""
    metrics.namespace = namespace
    metrics.add_dimension(name="EndpointName", value=endpoint)
    for name, value in values.items():
        metrics.add_metric(name=name, unit=names.METRIC_UNITS[name], value=value)
    for key, value in metadata.items():
        metrics.add_metadata(key=key, value=value)
    metrics.flush_metrics()
