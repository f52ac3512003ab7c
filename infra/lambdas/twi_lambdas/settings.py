"""The Lambda functions' settings: read from the environment once per container, frozen.

Explicit arguments beat the environment: the record-level functions take a ``Settings``
and the handlers build it with ``load_settings()`` only when none is given.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from twi_contract import TASKS

from twi_lambdas import names
from twi_lambdas.errors import ConfigurationError

DEFAULT_INVOCATION_TIMEOUT_SECONDS = 3600  # long recordings on a cold GPU: the async maximum
DEFAULT_TASK = "transcribe"
# Past this an upload with no outcome is lost, not late: longer than submit's retries
# (MAX_RECEIVE_COUNT deliveries, each after a visibility timeout of 12 minutes).
DEFAULT_RECONCILE_GRACE_SECONDS = 3600
DEFAULT_RECONCILE_LOOKBACK_SECONDS = 3 * 24 * 3600  # older ones were settled by earlier runs
COMPLETE_SLACK_SECONDS = 3600  # complete's own retries after the endpoint has answered
_Default = TypeVar("_Default", int, None)


@dataclass(frozen=True)
class Settings:
    endpoint_name: str | None  # submit needs it; complete takes it from the notification
    bucket_name: str | None  # where results go; None: the bucket of the input
    default_task: str = DEFAULT_TASK
    max_input_bytes: int = names.MAX_ASYNC_INPUT_BYTES
    invocation_timeout_seconds: int = DEFAULT_INVOCATION_TIMEOUT_SECONDS
    request_ttl_seconds: int | None = None
    metrics_namespace: str = names.METRICS_NAMESPACE
    reconcile_grace_seconds: int = DEFAULT_RECONCILE_GRACE_SECONDS
    reconcile_lookback_seconds: int = DEFAULT_RECONCILE_LOOKBACK_SECONDS
    coalesce_max_files: int = names.DEFAULT_COALESCE_MAX_FILES
    coalesce_max_file_bytes: int = names.DEFAULT_COALESCE_MAX_FILE_BYTES
    coalesce_max_bytes: int = names.DEFAULT_COALESCE_MAX_BYTES

    @property
    def coalescing(self) -> bool:
        """Whether submit sends short uploads that arrive together as one request."""
        return self.coalesce_max_files > 1

    @property
    def request_lifetime_seconds(self) -> int:
        """The longest a submitted request can take to reach an outcome: waiting in the
        endpoint's queue (RequestTTLSeconds, 6 h unless set), processing, then complete."""
        ttl = self.request_ttl_seconds or names.MAX_REQUEST_TTL_SECONDS
        return ttl + self.invocation_timeout_seconds + COMPLETE_SLACK_SECONDS

    def __post_init__(self) -> None:
        if self.default_task not in TASKS:
            raise ConfigurationError(
                f"{names.ENV_DEFAULT_TASK}={self.default_task!r}: expected one of {', '.join(TASKS)}"
            )
        if not 0 < self.max_input_bytes <= names.MAX_ASYNC_INPUT_BYTES:
            raise ConfigurationError(
                f"{names.ENV_MAX_INPUT_BYTES}={self.max_input_bytes}: must be between 1 and "
                f"{names.MAX_ASYNC_INPUT_BYTES} (the asynchronous inference payload limit)"
            )
        if not 1 <= self.invocation_timeout_seconds <= names.MAX_INVOCATION_TIMEOUT_SECONDS:
            raise ConfigurationError(
                f"{names.ENV_INVOCATION_TIMEOUT_SECONDS}={self.invocation_timeout_seconds}: must be "
                f"between 1 and {names.MAX_INVOCATION_TIMEOUT_SECONDS}"
            )
        lo, hi = names.MIN_REQUEST_TTL_SECONDS, names.MAX_REQUEST_TTL_SECONDS
        if self.request_ttl_seconds is not None and not lo <= self.request_ttl_seconds <= hi:
            raise ConfigurationError(
                f"{names.ENV_REQUEST_TTL_SECONDS}={self.request_ttl_seconds}: must be between {lo} and {hi}"
            )
        wrong = coalescing_errors(
            self.coalesce_max_files, self.coalesce_max_file_bytes, self.coalesce_max_bytes
        )
        for field, env in _COALESCING_ENV.items():
            if field in wrong:
                raise ConfigurationError(f"{env}={getattr(self, field)}: must be {wrong[field]}")

    def require_endpoint(self) -> str:
        if not self.endpoint_name:
            raise ConfigurationError(f"{names.ENV_ENDPOINT_NAME} is not set: submit has no endpoint to call")
        return self.endpoint_name

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        return cls(
            endpoint_name=env.get(names.ENV_ENDPOINT_NAME) or None,
            bucket_name=env.get(names.ENV_BUCKET_NAME) or None,
            default_task=env.get(names.ENV_DEFAULT_TASK) or DEFAULT_TASK,
            max_input_bytes=_int(env, names.ENV_MAX_INPUT_BYTES, names.MAX_ASYNC_INPUT_BYTES),
            invocation_timeout_seconds=_int(
                env, names.ENV_INVOCATION_TIMEOUT_SECONDS, DEFAULT_INVOCATION_TIMEOUT_SECONDS
            ),
            request_ttl_seconds=_int(env, names.ENV_REQUEST_TTL_SECONDS, None),
            metrics_namespace=env.get(names.ENV_METRICS_NAMESPACE) or names.METRICS_NAMESPACE,
            reconcile_grace_seconds=_int(
                env, names.ENV_RECONCILE_GRACE_SECONDS, DEFAULT_RECONCILE_GRACE_SECONDS
            ),
            reconcile_lookback_seconds=_int(
                env, names.ENV_RECONCILE_LOOKBACK_SECONDS, DEFAULT_RECONCILE_LOOKBACK_SECONDS
            ),
            coalesce_max_files=_int(env, names.ENV_COALESCE_MAX_FILES, names.DEFAULT_COALESCE_MAX_FILES),
            coalesce_max_file_bytes=_int(
                env, names.ENV_COALESCE_MAX_FILE_BYTES, names.DEFAULT_COALESCE_MAX_FILE_BYTES
            ),
            coalesce_max_bytes=_int(env, names.ENV_COALESCE_MAX_BYTES, names.DEFAULT_COALESCE_MAX_BYTES),
        )


_COALESCING_ENV = {
    "coalesce_max_files": names.ENV_COALESCE_MAX_FILES,
    "coalesce_max_file_bytes": names.ENV_COALESCE_MAX_FILE_BYTES,
    "coalesce_max_bytes": names.ENV_COALESCE_MAX_BYTES,
}


def coalescing_errors(max_files: int, max_file_bytes: int, max_bytes: int) -> dict[str, str]:
    """What is wrong with these coalescing limits: the setting's name (``coalesce_max_files``,
    ``coalesce_max_file_bytes``, ``coalesce_max_bytes``, also the CDK context keys) -> what it
    must be. One check for the function's environment and the stack's context."""
    wrong = {}
    if not 1 <= max_files <= names.MAX_COALESCE_FILES:
        wrong["coalesce_max_files"] = f"between 1 (no coalescing) and {names.MAX_COALESCE_FILES}"
    if not 1 <= max_bytes <= names.MAX_COALESCE_BYTES:
        wrong["coalesce_max_bytes"] = (
            f"between 1 and {names.MAX_COALESCE_BYTES} (submit holds a coalesced request in memory)"
        )
    if not 1 <= max_file_bytes <= max_bytes:
        wrong["coalesce_max_file_bytes"] = f"between 1 and coalesce_max_bytes ({max_bytes})"
    return wrong


def _int(env: Mapping[str, str], name: str, default: _Default) -> int | _Default:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a whole number") from None


@functools.cache
def load_settings() -> Settings:
    """Settings from ``os.environ``, built once per Lambda container."""
    return Settings.from_env(os.environ)
