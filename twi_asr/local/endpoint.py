"""A local SageMaker asynchronous endpoint: request queue, workers, S3 output, SNS notifications.

It does what the managed service does around the container, in the same order and with the
same artefacts: accept a request (202) and queue it; a worker (at most
``MaxConcurrentInvocationsPerInstance`` at a time) reads the input from S3, runs the handler
(the model loaded once), writes ``<S3OutputPath>/<uuid>.out`` or
``<S3FailurePath>/<uuid>-error.out``, and publishes the documented success or error
notification. On start it publishes ``{"eventName": "TestNotification"}`` as endpoint
creation does, so the complete Lambda meets that message locally too.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from twi_asr.local.wire import AsyncInvocation, iso_time, split_s3_uri

log = logging.getLogger(__name__)

EVENT_VERSION = "1.0"
_POLL_S = 0.2  # how often idle workers look at the stop flag


class Invoker(Protocol):
    """The container: request bytes in, response bytes and content type out.

    Raises what the container answered instead of a result: an exception with a ``status``
    below 500 is a client error (the toolkit answers 400 to any error in the handler),
    anything else a model error (500).
    """

    def __call__(
        self, body: bytes, content_type: str, custom_attributes: str, accept: str
    ) -> tuple[bytes, str]: ...


@dataclass
class EndpointStats:
    """Counters for progress displays and tests (read under the endpoint's lock)."""

    accepted: int = 0
    running: int = 0
    completed: int = 0
    failed: int = 0

    @property
    def pending(self) -> int:
        """Accepted and not finished: queued or running."""
        return self.accepted - self.completed - self.failed

    @property
    def queued(self) -> int:
        return self.pending - self.running


class LocalAsyncEndpoint:
    """The managed part of an async endpoint around one loaded model."""

    def __init__(
        self,
        *,
        name: str,
        region: str,
        s3: Any,
        sns: Any,
        invoker: Invoker,
        success_topic_arn: str,
        error_topic_arn: str,
        max_concurrent_invocations: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.name = name
        self.region = region
        self._s3 = s3
        self._sns = sns
        self._invoker = invoker
        self._success_topic_arn = success_topic_arn
        self._error_topic_arn = error_topic_arn
        self._concurrency = max_concurrent_invocations
        self._clock = clock
        self._queue: queue.Queue[AsyncInvocation] = queue.Queue()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.stats = EndpointStats()

    # --- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        """Start the workers and send the creation-time test notification."""
        self._stop.clear()
        for index in range(self._concurrency):
            worker = threading.Thread(target=self._work, name=f"endpoint-worker-{index}", daemon=True)
            worker.start()
            self._workers.append(worker)
        test = json.dumps({"eventName": "TestNotification"})
        for topic in (self._success_topic_arn, self._error_topic_arn):
            self._sns.publish(TopicArn=topic, Message=test)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop taking work; a running invocation finishes (or is abandoned after the timeout)."""
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout_s)
        self._workers.clear()

    def submit(self, invocation: AsyncInvocation) -> None:
        with self._lock:
            self.stats.accepted += 1
        self._queue.put(invocation)

    def snapshot(self) -> EndpointStats:
        with self._lock:
            return EndpointStats(**vars(self.stats))

    # --- work --------------------------------------------------------------------------
    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                invocation = self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            with self._lock:
                self.stats.running += 1
            ok = False
            try:
                ok = self._process(invocation)
            except Exception:  # a bug here must not kill the worker; the request still fails
                log.exception("local endpoint: request %s crashed", invocation.inference_id)
                self._fail(invocation, self._clock(), "InternalFailure: the local endpoint crashed", b"")
            finally:
                with self._lock:
                    self.stats.running -= 1
                    if ok:
                        self.stats.completed += 1
                    else:
                        self.stats.failed += 1

    def _process(self, invocation: AsyncInvocation) -> bool:
        started = self._clock()
        waited = (started - invocation.received_at).total_seconds()
        if waited > invocation.request_ttl_s:
            reason = f"ClientError: Request expired: it waited {waited:.0f} s, more than its TTL of "
            self._fail(invocation, started, reason + f"{invocation.request_ttl_s} s", b"")
            return False
        try:
            obj = self._s3.get_object(Bucket=invocation.input_bucket, Key=invocation.input_key)
            body: bytes = obj["Body"].read()
        except Exception as exc:
            where = invocation.input_location
            reason = f"ClientError: Could not read the input from {where} ({_aws_reason(exc)})"
            self._fail(invocation, started, reason, b"")
            return False

        outcome = _run_with_timeout(
            lambda: self._invoker(
                body, invocation.content_type, invocation.custom_attributes, invocation.accept
            ),
            invocation.invocation_timeout_s,
        )
        if isinstance(outcome, TimeoutError):
            reason = f"ModelError: Invocation timed out after {invocation.invocation_timeout_s} seconds"
            self._fail(invocation, started, reason, b"")
            return False
        if isinstance(outcome, BaseException):
            status = int(getattr(outcome, "status", 500))
            message = str(outcome) or type(outcome).__name__
            error_body = json.dumps(
                {"code": status, "type": type(outcome).__name__, "message": message}, ensure_ascii=False
            ).encode()
            kind = "client" if status < 500 else "server"
            label = "ClientError" if status < 500 else "ModelError"
            reason = f'{label}: Received {kind} error ({status}) from model with message "{message}".'
            self._fail(invocation, started, reason, error_body)
            return False

        payload, content_type = outcome
        bucket, key = split_s3_uri(invocation.output_location)
        self._s3.put_object(Bucket=bucket, Key=key, Body=payload, ContentType=content_type)
        self._notify(
            self._success_topic_arn,
            invocation,
            started,
            {
                "invocationStatus": "Completed",
                "requestParameters": self._request_parameters(invocation),
                "responseParameters": {
                    "contentType": content_type,
                    "outputLocation": invocation.output_location,
                },
            },
        )
        return True

    def _fail(self, invocation: AsyncInvocation, started: datetime, reason: str, error_body: bytes) -> None:
        """Write the failure object (what the container said, if anything) and notify."""
        bucket, key = split_s3_uri(invocation.failure_location)
        body = error_body or json.dumps({"message": reason}, ensure_ascii=False).encode()
        self._s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
        log.warning("local endpoint: %s failed: %s", invocation.input_location, reason)
        self._notify(
            self._error_topic_arn,
            invocation,
            started,
            {
                "invocationStatus": "Failed",
                "failureReason": reason,
                "requestParameters": self._request_parameters(invocation),
            },
        )

    def _request_parameters(self, invocation: AsyncInvocation) -> dict[str, str]:
        return {
            "contentType": invocation.content_type,
            "endpointName": invocation.endpoint_name,
            "inputLocation": invocation.input_location,
        }

    def _notify(
        self, topic_arn: str, invocation: AsyncInvocation, started: datetime, fields: dict[str, Any]
    ) -> None:
        message = {
            "awsRegion": self.region,
            "eventTime": iso_time(self._clock()),
            "receivedTime": iso_time(invocation.received_at),
            "invocationTime": iso_time(started),
            **fields,
            "inferenceId": invocation.inference_id,
            "requestId": invocation.request_id,
            "eventVersion": EVENT_VERSION,
            "eventSource": "aws:sagemaker",
            "eventName": "InferenceResult",
        }
        self._sns.publish(TopicArn=topic_arn, Message=json.dumps(message, ensure_ascii=False))


def _run_with_timeout(
    call: Callable[[], tuple[bytes, str]], timeout_s: float
) -> tuple[bytes, str] | BaseException:
    """Run ``call`` in a helper thread; a timeout is reported, the thread left to finish.

    Python cannot kill a thread, and the model call cannot be interrupted midway; SageMaker
    would fail the request at the timeout, and so do we (the late result is dropped).
    """
    box: list[tuple[bytes, str] | BaseException] = []

    def target() -> None:
        try:
            box.append(call())
        except BaseException as exc:
            box.append(exc)

    thread = threading.Thread(target=target, name=f"invocation-{uuid.uuid4().hex[:8]}", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive() or not box:
        return TimeoutError()
    return box[0]


def _aws_reason(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message', '')}".rstrip(": ")
    return f"{type(exc).__name__}: {exc}"
