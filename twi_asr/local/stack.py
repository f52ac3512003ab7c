"""``LocalStack``: the whole serverless flow on 127.0.0.1, started and stopped as one context.

    with LocalStack(model_dir=default_model_dir(), workdir=Path(".demo/stack")) as stack:
        stack.upload(Path("jfk.mp3"), "audio/jfk.mp3")
        doc = stack.wait_for_result("audio/jfk.mp3")

What runs: moto (S3, SQS, SNS) provisioned like the CDK stack; the SageMaker async endpoint
(runtime server + request queue + container processes with the model); the two Lambda
functions in their own processes behind SQS event source pollers. The Lambda and inference
code is the code that ships, unchanged: only the endpoint URLs in its environment differ.

With ``persist=True`` (what ``twi-asr local up`` uses) the bucket lives on in
``<workdir>/bucket/`` across stops and crashes, and a start resubmits every upload that has no
result yet (``persistence``); without it, a stop forgets everything, which suits a demo or a
test. Either way the logs in ``<workdir>/logs/`` are appended to, never replaced, and the
worker processes end with the stack's process, even when it is killed (``lifeline``).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from twi_infra.runtime_values import Worker
from twi_lambdas import names

from twi_asr.client import StackRef, TwiAsrClient
from twi_asr.local.config import FUNCTIONS, RESULT_POLL_S, LocalConfig, default_workdir
from twi_asr.local.container import ContainerInvoker
from twi_asr.local.endpoint import Invoker, LocalAsyncEndpoint
from twi_asr.local.environments import container_environment, lambda_environment
from twi_asr.local.event_source import SqsEventSource
from twi_asr.local.lambda_runtime import FunctionSpec, LocalFunction
from twi_asr.local.moto_server import MotoServer
from twi_asr.local.persistence import BucketMirror, Recovery
from twi_asr.local.provision import Resources, provision
from twi_asr.local.runtime_server import RuntimeServer
from twi_asr.local.state import NoLocalStackError, StackState

MIRROR_DIR = "bucket"  # <workdir>/bucket/: the bucket's objects when persist=True
LOG_DIR = "logs"


class LocalStack:
    """Start everything on enter, stop everything on exit (keeping the bucket with ``persist``)."""

    def __init__(
        self,
        model_dir: Path | str | None = None,
        workdir: Path | str | None = None,
        config: LocalConfig | None = None,
        invoker: Invoker | None = None,
        persist: bool = False,
        fresh: bool = False,
    ) -> None:
        """``invoker`` replaces the model container (tests of the plumbing alone); otherwise
        ``model_dir`` is served (default: the offline Whisper base). ``persist`` keeps the
        bucket in ``<workdir>/bucket/`` and picks up where the last run stopped; ``fresh``
        forgets what an earlier run kept there first."""
        self.config = config or LocalConfig()
        self.workdir = Path(workdir) if workdir is not None else default_workdir()
        self._model_dir = Path(model_dir) if model_dir is not None else None
        self._invoker = invoker
        self._fresh = fresh
        self._exit = contextlib.ExitStack()
        self.mirror = (
            BucketMirror(self.workdir / MIRROR_DIR, self.config.bucket, self.config.region)
            if persist
            else None
        )
        self.recovery: Recovery | None = None  # what a persistent start found and resubmitted
        self.moto = MotoServer(on_s3_write=self.mirror.sync if self.mirror is not None else None)
        self.resources: Resources | None = None
        self.endpoint: LocalAsyncEndpoint | None = None
        self.runtime: RuntimeServer | None = None
        self.container: ContainerInvoker | None = None
        self.functions: dict[str, LocalFunction] = {}
        self.sources: dict[str, SqsEventSource] = {}
        self.state: StackState | None = None
        self._client: TwiAsrClient | None = None  # made once per start: see client()
        self.s3: Any = None
        self.sqs: Any = None

    # --- lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> LocalStack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        config = self.config
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._lock_workdir()
        if self._fresh:
            shutil.rmtree(self.workdir / MIRROR_DIR, ignore_errors=True)
        logs = self.workdir / LOG_DIR
        logs.mkdir(exist_ok=True)
        _mark_logs(logs)
        _quiet_werkzeug()

        self.moto.start()
        self._exit.callback(self.moto.stop)
        session = self.moto.session(config.region)
        self.s3 = session.client("s3", endpoint_url=self.moto.url)
        self.sqs = session.client("sqs", endpoint_url=self.moto.url)
        resources = self.resources = provision(session, self.moto.url, config)
        if self.mirror is not None:  # before anything runs: resubmitted uploads wait in the queue
            self.mirror.restore()
            self.recovery = self.mirror.reconcile()

        invoker = self._invoker
        if invoker is None:
            if self._model_dir is None:
                from twi_asr.default_model import default_model_dir

                self._model_dir = default_model_dir()
            container = self.container = ContainerInvoker(
                self._model_dir,
                container_environment(config),
                workers=config.max_concurrent_invocations,
                log_path=logs / "endpoint.log",
            )
            container.start()
            self._exit.callback(container.stop)
            invoker = container
        endpoint = self.endpoint = LocalAsyncEndpoint(
            name=config.endpoint_name,
            region=config.region,
            s3=self.s3,
            sns=session.client("sns", endpoint_url=self.moto.url),
            invoker=invoker,
            success_topic_arn=resources.success_topic_arn,
            error_topic_arn=resources.error_topic_arn,
            max_concurrent_invocations=config.max_concurrent_invocations,
        )
        endpoint.start()
        self._exit.callback(endpoint.stop)
        runtime = self.runtime = RuntimeServer(endpoint, config).start()
        self._exit.callback(runtime.stop)

        for name, worker in FUNCTIONS.items():
            self._start_function(name, worker, runtime.url)
        # Runs first on stop: every poller winds down at once instead of one after another.
        self._exit.callback(self._signal_sources)

        self.state = StackState(
            aws_endpoint_url=self.moto.url,
            sagemaker_runtime_url=runtime.url,
            region=config.region,
            bucket=resources.bucket,
            endpoint_name=config.endpoint_name,
            queues={config.queue_name(k): v for k, v in resources.queue_urls.items()},
            model_dir=str(self._model_dir or ""),
            pid=os.getpid(),
            workdir=str(self.workdir.resolve()),
        )
        state_file = self.state.write()
        self._exit.callback(state_file.unlink, missing_ok=True)

    def _lock_workdir(self) -> None:
        """Hold an exclusive ``flock`` on the work directory from start to stop, so that two
        stacks never share a bucket on disk, even while they start (the state file appears only
        once a stack is up). The kernel releases it when the process ends, however it ends, so
        a killed stack leaves no stale lock; a stale state file is simply replaced."""
        fd = os.open(self.workdir, os.O_RDONLY)  # not inherited by the worker processes
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            try:
                holder = f" (pid {StackState.read(self.workdir).pid})"
            except NoLocalStackError:
                holder = " (still starting)"
            raise RuntimeError(
                f"a local stack is already running for {self.workdir}{holder}: "
                "stop it first, or give this one another work directory"
            ) from None
        self._exit.callback(os.close, fd)

    def _signal_sources(self) -> None:
        for source in self.sources.values():
            source.signal_stop()

    def _start_function(self, name: str, worker: Worker, runtime_url: str) -> None:
        """One Lambda function and the SQS event source mapping that feeds it."""
        config, resources = self.config, self.resources
        assert resources is not None
        function = LocalFunction(
            FunctionSpec(
                name=name,
                handler=worker.handler,
                environment=lambda_environment(config, name, self.moto.url, runtime_url),
                timeout_s=worker.timeout_s,
                memory_mb=worker.memory_mb,
                log_path=self.workdir / LOG_DIR / f"{name}.log",
            ),
            concurrency=config.lambda_concurrency,
        )
        function.start()
        self._exit.callback(function.stop)
        self.functions[name] = function
        source = SqsEventSource(
            name=name,
            sqs=self.sqs,
            queue_url=resources.queue_urls[worker.queue],
            queue_arn=config.queue_arn(worker.queue),
            region=config.region,
            invoke=function.invoke,
            batch_size=worker.batch_size,
            wait_s=config.poll_wait_s,
            retry_delay_s=config.retry_delay_s,
            pollers=config.lambda_concurrency,
            batching_window_s=worker.batching_window_s,
        )
        source.start()
        self._exit.callback(source.stop)
        self.sources[name] = source

    def stop(self) -> None:
        """Stop pollers, functions, endpoint and moto in reverse order; idempotent."""
        self._exit.close()
        self.functions.clear()
        self.sources.clear()
        self._client = None

    # --- conveniences for the CLI, the demo and tests -------------------------------------------
    @property
    def bucket(self) -> str:
        return self.config.bucket

    def upload(self, path: Path, key: str, metadata: dict[str, str] | None = None) -> None:
        """Put a local file at ``key`` (an ``audio/...`` key starts the flow)."""
        self.s3.upload_file(str(path), self.bucket, key, ExtraArgs={"Metadata": metadata or {}})

    def get_json(self, key: str) -> dict[str, Any] | None:
        """The JSON document at ``key`` in the stack's bucket, or None."""
        return self.client().get_json(key)

    def client(self) -> TwiAsrClient:
        """A client of this stack, as ``twi-asr local put`` makes one (a look every
        ``RESULT_POLL_S``)."""
        assert self.state is not None, "the stack is not started"
        if self._client is None:  # its boto3 session and clients, once per start, not per wait
            ref = StackRef(self.bucket, self.state.endpoint_name, self.state.region)
            self._client = TwiAsrClient(ref, session=self.state.session(), max_poll_s=RESULT_POLL_S)
        return self._client

    def wait_for_result(
        self,
        audio_key: str,
        timeout_s: float = 300.0,
        on_wait: Callable[[float], None] | None = None,
        not_before: float | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """Wait for ``transcripts/<path>.json`` or ``failed/<path>.json`` (newer than
        ``not_before``, epoch seconds); return (key, document). The client's own wait."""
        result = self.client().wait_for_result(audio_key, timeout_s, not_before=not_before, on_wait=on_wait)
        return result.location.removeprefix(f"s3://{self.bucket}/"), result.document

    def queue_depths(self) -> dict[str, int]:
        """Messages (visible + in flight + delayed) in every queue, by physical name."""
        assert self.resources is not None
        depths = {}
        for logical, url in self.resources.queue_urls.items():
            attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            depths[self.config.queue_name(logical)] = sum(
                int(attributes.get(name, 0))
                for name in (
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                )
            )
        return depths

    def is_idle(self) -> bool:
        """Nothing queued, in flight, being inferred or being handled anywhere."""
        assert self.endpoint is not None
        if any(source.busy for source in self.sources.values()) or self.endpoint.snapshot().pending:
            return False
        depths = self.queue_depths()
        work_queues = (self.config.queue_name(names.SUBMIT_QUEUE), self.config.queue_name(names.RESULT_QUEUE))
        return not any(depths[name] for name in work_queues)

    def wait_until_idle(self, timeout_s: float = 120.0, settle_s: float = 1.5) -> None:
        """Wait until the stack has been idle for ``settle_s`` (no hop in between)."""
        deadline = time.monotonic() + timeout_s
        idle_since: float | None = None
        while time.monotonic() < deadline:
            if self.is_idle():
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since >= settle_s:
                    return
            else:
                idle_since = None
            time.sleep(0.2)
        raise TimeoutError(f"the local stack did not become idle in {timeout_s:.0f} s: {self.queue_depths()}")


def _mark_logs(logs: Path) -> None:
    """Start this run's part of each log with a line saying so (earlier runs' lines stay)."""
    line = f"===== local stack started {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC (pid {os.getpid()}) =====\n"
    for name in ("endpoint", *FUNCTIONS):
        with open(logs / f"{name}.log", "a", encoding="utf-8") as log_file:
            log_file.write(line)


def _quiet_werkzeug() -> None:
    """moto's server logs every request at INFO; keep that out of the user's terminal."""
    logger = logging.getLogger("werkzeug")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)
