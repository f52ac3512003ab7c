"""Names and knobs of the offline local stack, derived from the same source as the CDK stack.

Resource names come from ``twi_lambdas.names`` (the one list of logical names shared with the
CDK app and the Lambda functions) with a prefix, and the functions' timeouts, memory, batch
sizes and queue settings from ``twi_infra.runtime_values``, so the local stack provisions and
runs exactly what the real stack does. What differs locally is only timing: AWS retries a
failed SQS message after the queue's visibility timeout (minutes in the CDK stack, longer than
the Lambda timeout); locally a failed message is made visible again after ``retry_delay_s``
so a poison message reaches its DLQ in seconds, not half an hour.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from twi_infra.config import StackSettings
from twi_infra.paths import PROJECT_ROOT
from twi_infra.runtime_values import COMPLETE, SUBMIT, Coalescing, Worker
from twi_lambdas import names
from twi_lambdas.settings import coalescing_errors

# moto accepts any credentials; these never leave this process and its Lambda workers.
FAKE_ACCESS_KEY_ID: Final = "testing"
FAKE_SECRET_ACCESS_KEY: Final = "testing"
# How often a wait on the local stack looks for a result: on loopback a look costs nothing,
# and a deployed stack's client backs off to 10 s (twi_asr.client.MAX_POLL_S).
RESULT_POLL_S: Final = 0.25
ACCOUNT_ID: Final = "123456789012"  # moto's default account: ARNs it builds carry it
LOOPBACK: Final = "127.0.0.1"  # the stack never listens on anything but loopback

STATE_FILE_NAME: Final = "local-stack.json"  # written by `twi-asr local up`, read by `put`
DEFAULT_WORKDIR: Final = PROJECT_ROOT / ".demo" / "stack"
ENV_WORKDIR: Final = "TWI_ASR_LOCAL_WORKDIR"

SUBMIT_FUNCTION: Final = "twi-asr-submit"  # local function names (log files, Lambda context)
COMPLETE_FUNCTION: Final = "twi-asr-complete"
FUNCTIONS: Final[dict[str, Worker]] = {SUBMIT_FUNCTION: SUBMIT, COMPLETE_FUNCTION: COMPLETE}
DEPLOYED: Final = StackSettings()  # what `cdk deploy` runs with when no context is given


@dataclass(frozen=True)
class LocalConfig:
    """Everything the local stack needs to know, fixed when it starts.

    Names default to what ``twi_lambdas.names`` defines, prefixed like the CDK stack's
    physical names would be, so a look at the local bucket matches the deployed one.
    """

    prefix: str = "twi-asr"
    region: str = DEPLOYED.region
    endpoint_name: str = "twi-asr-local"
    lambda_concurrency: int = 2  # concurrent batches per function (worker processes)
    poll_wait_s: int = 1  # SQS long-poll wait; short so that stop() is prompt
    retry_delay_s: int = 1  # a failed message is visible again after this (locally only)
    max_receive_count: int = names.MAX_RECEIVE_COUNT
    # SageMaker async endpoint: MaxConcurrentInvocationsPerInstance, one instance
    max_concurrent_invocations: int = DEPLOYED.max_concurrent_invocations_per_instance
    invocation_timeout_s: int = 900  # SageMaker's InvocationTimeoutSeconds when a request sets none
    language: str | None = None  # TWI_ASR_LANGUAGE: the endpoint's default (e.g. tw); None: detect
    task: str | None = None  # None: the stack's default
    coalescing: Coalescing | None = None  # how submit coalesces short uploads; None: the stack's

    def __post_init__(self) -> None:
        if self.lambda_concurrency < 1 or self.max_concurrent_invocations < 1:
            raise ValueError("lambda_concurrency and max_concurrent_invocations must be >= 1")
        if not 1 <= self.max_receive_count <= 1000:
            raise ValueError("max_receive_count must be between 1 and 1000")
        limits = self.coalescing or Coalescing()
        if wrong := coalescing_errors(limits.max_files, limits.max_file_bytes, limits.max_bytes):
            raise ValueError(
                "; ".join(f"{setting} must be {expected}" for setting, expected in wrong.items())
            )

    @property
    def bucket(self) -> str:
        return f"{self.prefix}-local-bucket"

    def queue_name(self, logical: str) -> str:
        """Physical name of one of ``names.SUBMIT_QUEUE``/``SUBMIT_DLQ``/``RESULT_*``."""
        return f"{self.prefix}-{logical}"

    def topic_name(self, logical: str) -> str:
        """Physical name of ``names.SUCCESS_TOPIC`` or ``names.ERROR_TOPIC``."""
        return f"{self.prefix}-{logical}"

    def queue_arn(self, logical: str) -> str:
        return f"arn:aws:sqs:{self.region}:{ACCOUNT_ID}:{self.queue_name(logical)}"

    def topic_arn(self, logical: str) -> str:
        return f"arn:aws:sns:{self.region}:{ACCOUNT_ID}:{self.topic_name(logical)}"

    @property
    def output_path(self) -> str:
        """The endpoint's ``AsyncInferenceConfig.OutputConfig.S3OutputPath``."""
        return f"s3://{self.bucket}/{names.ASYNC_OUTPUT_PREFIX}"

    @property
    def failure_path(self) -> str:
        """The endpoint's ``AsyncInferenceConfig.OutputConfig.S3FailurePath``."""
        return f"s3://{self.bucket}/{names.ASYNC_FAILURE_PREFIX}"


def default_workdir() -> Path:
    """``$TWI_ASR_LOCAL_WORKDIR`` or ``<project>/.demo/stack`` (git-ignored)."""
    return Path(os.environ.get(ENV_WORKDIR) or DEFAULT_WORKDIR)
