"""Run a Lambda handler the way the Lambda service does: in its own process, with its own env.

Each function gets a pool of spawned worker processes (one per concurrent execution, like
Lambda's execution environments). A worker sets the function's environment (endpoint URLs,
bucket, endpoint name, moto's dummy credentials) before it imports the handler module, so the
handler's lazily built clients and settings see exactly what they would see in AWS, and
nothing leaks into (or from) the process that runs the stack. Whatever the handler prints
goes to ``<workdir>/logs/<function>.log``: the local CloudWatch log group.
"""

from __future__ import annotations

import importlib
import json
import multiprocessing
import os
import sys
import time
import traceback
import uuid
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twi_asr.local.config import ACCOUNT_ID
from twi_asr.local.lifeline import exit_with_parent

_SPAWN_SLACK_S = 60.0  # a cold worker spawn + import is not part of the handler's timeout


@dataclass(frozen=True)
class FunctionSpec:
    """A function as the CDK stack defines it: name, handler string, environment, timeout."""

    name: str
    handler: str  # "package.module.function"
    timeout_s: int
    memory_mb: int
    environment: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None


class LambdaInvocationError(RuntimeError):
    """The handler raised, timed out or returned something that is not JSON."""


class LocalFunction:
    """A pool of execution environments for one function."""

    def __init__(self, spec: FunctionSpec, concurrency: int) -> None:
        self.spec = spec
        self._concurrency = concurrency
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        """Spawn the pool and import the handler once, so a broken handler fails the start."""
        if self.spec.log_path is not None:
            self.spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._pool = ProcessPoolExecutor(
            max_workers=self._concurrency,
            mp_context=multiprocessing.get_context("spawn"),  # no fork: the stack runs threads
            initializer=_init_environment,
            initargs=(self.spec.environment, str(self.spec.log_path or "")),
        )
        try:
            self._pool.submit(_warm, self.spec.handler).result(timeout=_SPAWN_SLACK_S)
        except BaseException:
            self.stop()
            raise

    def invoke(self, event: dict[str, Any]) -> Any:
        """Invoke synchronously (as an event source mapping does) and return the JSON result."""
        if self._pool is None:
            raise RuntimeError(f"function {self.spec.name} is not started")
        future = self._pool.submit(
            _invoke, self.spec.handler, self.spec.name, self.spec.timeout_s, self.spec.memory_mb, event
        )
        try:
            ok, payload = future.result(timeout=self.spec.timeout_s + _SPAWN_SLACK_S)
        except FutureTimeout:
            raise LambdaInvocationError(
                f"{self.spec.name}: Task timed out after {self.spec.timeout_s} seconds"
            ) from None
        if not ok:
            raise LambdaInvocationError(f"{self.spec.name}: {payload}")
        return json.loads(payload)

    def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class LambdaContext:
    """The attributes and method of the Lambda Python runtime's context object."""

    def __init__(self, function_name: str, timeout_s: int, memory_mb: int) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        region = os.environ.get("AWS_REGION", "us-east-1")
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{function_name}"
        self.memory_limit_in_mb = str(memory_mb)
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"local/{os.getpid()}"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


# --- what runs inside the worker processes ----------------------------------------------
def _init_environment(environment: dict[str, str], log_path: str) -> None:
    """Replace every inherited AWS_* variable (a user's profile must never be used); end with
    the stack's process however it ends (``lifeline``)."""
    exit_with_parent()
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        del os.environ[name]
    os.environ.update(environment)
    if log_path:
        stream = open(log_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives with the process
        sys.stdout = stream
        sys.stderr = stream


def _resolve(handler: str) -> Any:
    module_name, _, function_name = handler.rpartition(".")
    module = importlib.import_module(module_name)
    function = getattr(module, function_name, None)
    if not callable(function):
        raise RuntimeError(f"handler {handler!r}: {module_name} has no function {function_name!r}")
    return function


def _warm(handler: str) -> None:
    _resolve(handler)


def _invoke(
    handler: str, name: str, timeout_s: int, memory_mb: int, event: dict[str, Any]
) -> tuple[bool, str]:
    """Call the handler; errors come back as text (tracebacks do not always pickle)."""
    context = LambdaContext(name, timeout_s, memory_mb)
    print(f"START RequestId: {context.aws_request_id}", flush=True)
    try:
        result = _resolve(handler)(event, context)
        return True, json.dumps(result)
    except Exception as exc:
        traceback.print_exc()
        return False, f"{type(exc).__name__}: {exc}"
    finally:
        print(f"END RequestId: {context.aws_request_id}", flush=True)
