"""The inference container, locally: worker processes that load the model once and answer requests.

As in the HF inference DLC (multi-model-server starts worker processes that each import
``code/inference.py`` and call ``model_fn`` once), every worker here is its own process with
the container's environment (``SAGEMAKER_PROGRAM``, ``TWI_ASR_LANGUAGE``...), runs the same
``inference/inference.py`` through ``twi_asr.local_model.LocalModel``, and reports errors as the
toolkit would: ``HuggingFaceHandlerService.handle`` answers any exception from the handler
functions with status 400 and ``str(exc)``; a model that does not load never serves.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from twi_asr.local.lifeline import exit_with_parent

_START_TIMEOUT_S = 600.0  # loading a big checkpoint on CPU takes a while
TOOLKIT_ERROR_STATUS = 400  # the toolkit's PredictionException(str(exc), 400), whatever exc is
LOAD_ERROR_STATUS = 500  # a server error: the real endpoint would never turn healthy
_model: Any = None
_load_error: tuple[int, str, str] | None = None


class ContainerError(Exception):
    """What the container answered instead of a result: status, error type, message."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind


class ContainerInvoker:
    """Implements ``endpoint.Invoker`` with ``workers`` model-serving processes."""

    def __init__(
        self, model_dir: Path, environment: dict[str, str], workers: int = 1, log_path: Path | None = None
    ) -> None:
        """``log_path``: where the workers' output goes (the endpoint's CloudWatch log group)."""
        self.model_dir = Path(model_dir)
        self._environment = environment
        self._workers = workers
        self._log_path = log_path
        self._pool: ProcessPoolExecutor | None = None
        self.description: dict[str, Any] = {}

    def start(self) -> None:
        """Start the workers and wait until one has loaded the model (or say why it could not)."""
        if not self.model_dir.is_dir():
            raise FileNotFoundError(f"model directory not found: {self.model_dir}")
        self._pool = ProcessPoolExecutor(
            max_workers=self._workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_load,
            initargs=(str(self.model_dir), self._environment, str(self._log_path or "")),
        )
        try:
            ok, info = self._pool.submit(_describe).result(timeout=_START_TIMEOUT_S)
        except BaseException:
            self.stop()
            raise
        if not ok:
            self.stop()
            status, kind, message = info
            raise ContainerError(status, kind, f"the model in {self.model_dir} did not load: {message}")
        self.description = info

    def __call__(
        self, body: bytes, content_type: str, custom_attributes: str, accept: str
    ) -> tuple[bytes, str]:
        if self._pool is None:
            raise ContainerError(503, "ServiceUnavailable", "the container is not running")
        ok, result = self._pool.submit(_invoke, body, content_type, custom_attributes, accept).result()
        if not ok:
            raise ContainerError(*result)
        payload, response_type = result
        return payload, response_type

    def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


# --- inside the worker processes ---------------------------------------------------------
def _load(model_dir: str, environment: dict[str, str], log_path: str) -> None:
    global _model, _load_error
    exit_with_parent()  # a worker outlives no stack, however the stack ends
    os.environ.update(environment)
    if log_path:
        stream = open(log_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives with the process
        sys.stdout = stream
        sys.stderr = stream
    try:
        from twi_asr.local_model import LocalModel

        _model = LocalModel(model_dir)
    except Exception as exc:  # reported by _describe / _invoke: an initializer must not raise
        _load_error = (LOAD_ERROR_STATUS, type(exc).__name__, str(exc) or repr(exc))


def _describe() -> tuple[bool, Any]:
    if _load_error is not None:
        return False, _load_error
    engine = getattr(_model, "engine", None)
    return True, {
        "engine": getattr(engine, "name", None),
        "model": getattr(engine, "model_name", None),
        "device": getattr(engine, "device", None),
        "dtype": getattr(engine, "dtype", None),
        "pid": os.getpid(),
    }


def _invoke(body: bytes, content_type: str, custom_attributes: str, accept: str) -> tuple[bool, Any]:
    if _load_error is not None:
        return False, _load_error
    try:
        payload = _model.invoke(body, content_type, custom_attributes=custom_attributes, accept=accept)
    except Exception as exc:
        return False, (TOOLKIT_ERROR_STATUS, type(exc).__name__, str(exc) or repr(exc))
    return True, (bytes(payload), accept or "application/json")
