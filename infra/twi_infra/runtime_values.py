"""The values the deployed stack runs with, in plain Python: one source for the CDK stack and
the offline local stack (``twi_asr.local``), which provisions moto and runs the same handlers
with the same numbers.

No ``aws_cdk`` import here, so the local stack reads this without aws-cdk-lib installed: the
constructs turn seconds into ``Duration``. Names the Lambda code reads (environment variables,
queue ids, the receive count) stay in ``twi_lambdas.names``, which ships in the Lambda asset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from twi_endpoint import settings as endpoint_settings
from twi_lambdas import names

DAY_S: Final = 24 * 3600

# --- SQS ----------------------------------------------------------------------------------
QUEUE_RETENTION_S: Final = 4 * DAY_S  # work queues: SQS's default, ample for a hop of seconds
DLQ_RETENTION_S: Final = 14 * DAY_S  # the SQS maximum: time to notice, fix and redrive
VISIBILITY_TIMEOUT_FACTOR: Final = 6  # AWS's advice for Lambda event sources: 6 x the function timeout


@dataclass(frozen=True)
class Worker:
    """A Lambda function and the SQS queue (with its DLQ) that feeds it."""

    handler: str  # "module.function" inside the Lambda asset
    queue: str  # logical ids from twi_lambdas.names
    dlq: str
    batch_size: int  # messages per invocation (1-10 on a standard queue)
    timeout_s: int
    memory_mb: int
    calls_endpoint: bool  # submit: needs the endpoint name and the InvokeEndpointAsync limits
    # MaximumBatchingWindowInSeconds: how long the event source waits to fill a batch before it
    # invokes. Worth its latency only where a fuller batch saves work (submit's coalescing).
    batching_window_s: int
    # Concurrent invocations the event source starts at most (2-1000): a burst of uploads
    # cannot take the account's whole Lambda concurrency, and no reserved concurrency is
    # needed (which would throttle, and retry messages towards the DLQ).
    max_concurrency: int = 10

    @property
    def visibility_timeout_s(self) -> int:
        """Longer than the function runs, so a message in work is never handed out twice."""
        return VISIBILITY_TIMEOUT_FACTOR * self.timeout_s


# Submit heads and validates uploads and calls InvokeEndpointAsync: seconds per batch. It holds
# a coalesced request in memory (up to COALESCE_MAX_BYTES, several copies while packing): 512 MB.
SUBMIT: Final = Worker(
    handler="twi_lambdas.submit.handler",
    queue=names.SUBMIT_QUEUE,
    dlq=names.SUBMIT_DLQ,
    batch_size=10,  # S3 events per invocation: the short ones among them go as one request
    timeout_s=120,  # ten records, each up to a 1 GB copy; submit stops early when time runs short
    memory_mb=512,
    calls_endpoint=True,
    batching_window_s=2,  # short uploads that arrive within 2 s go as one request (coalescing)
)
# Complete reads the endpoint's JSON and writes transcripts and subtitles: more memory, more time.
COMPLETE: Final = Worker(
    handler="twi_lambdas.complete.handler",
    queue=names.RESULT_QUEUE,
    dlq=names.RESULT_DLQ,
    batch_size=10,  # SNS notifications per invocation
    timeout_s=120,
    memory_mb=512,
    calls_endpoint=False,
    # each notification is its own result: waiting would only make every result later (2 s
    # on each `put --wait`); the messages already there still come in one batch of up to 10
    batching_window_s=0,
)
WORKERS: Final = (SUBMIT, COMPLETE)


@dataclass(frozen=True)
class Scheduled:
    """A Lambda function run on a schedule (EventBridge), not fed by a queue."""

    handler: str
    timeout_s: int
    memory_mb: int
    every_minutes: int
    calls_endpoint: bool  # reads the endpoint's limits (how long a request may take)


# Reconcile finds uploads with no outcome (twi_lambdas.reconcile): a listing and a few heads
# per recent upload, four times an hour.
RECONCILE: Final = Scheduled(
    handler="twi_lambdas.reconcile.handler",
    timeout_s=300,
    memory_mb=256,
    every_minutes=15,
    calls_endpoint=True,
)


@dataclass(frozen=True)
class Coalescing:
    """How submit coalesces short uploads that arrive together (``twi_lambdas.batches``)."""

    max_files: int = names.DEFAULT_COALESCE_MAX_FILES  # 1: never
    max_file_bytes: int = names.DEFAULT_COALESCE_MAX_FILE_BYTES
    max_bytes: int = names.DEFAULT_COALESCE_MAX_BYTES


def function_environment(
    worker: Worker | Scheduled,
    *,
    bucket_name: str,
    endpoint_name: str,
    task: str,
    coalescing: Coalescing,
) -> dict[str, str]:
    """The environment the stack gives ``worker``'s function (``twi_lambdas.settings`` reads it)."""
    env = {
        names.ENV_SERVICE_NAME: names.SERVICE_NAME,
        names.ENV_BUCKET_NAME: bucket_name,
        names.ENV_DEFAULT_TASK: task,
        names.ENV_METRICS_NAMESPACE: names.METRICS_NAMESPACE,
    }
    if worker.calls_endpoint:  # complete takes the endpoint from the notification
        env[names.ENV_ENDPOINT_NAME] = endpoint_name
        env[names.ENV_MAX_INPUT_BYTES] = str(names.MAX_ASYNC_INPUT_BYTES)
        env[names.ENV_INVOCATION_TIMEOUT_SECONDS] = str(names.MAX_INVOCATION_TIMEOUT_SECONDS)
    if worker == SUBMIT:  # the function that coalesces
        env[names.ENV_COALESCE_MAX_FILES] = str(coalescing.max_files)
        env[names.ENV_COALESCE_MAX_FILE_BYTES] = str(coalescing.max_file_bytes)
        env[names.ENV_COALESCE_MAX_BYTES] = str(coalescing.max_bytes)
    return env


# --- The SageMaker model's container ---------------------------------------------------------
ENTRY_POINT: Final = "inference.py"  # code/inference.py in model.tar.gz (SAGEMAKER_PROGRAM)
# The model server answers within this; async invocations may process for up to an hour.
MODEL_SERVER_TIMEOUT_SECONDS: Final = names.MAX_INVOCATION_TIMEOUT_SECONDS
MAX_PAYLOAD_MB: Final = names.MAX_ASYNC_INPUT_BYTES // 2**20  # MMS rejects bodies over 6.5 MB by default
# Requests one instance works on at once, each in its own model-server worker (the toolkit's
# handler takes one request at a time per worker, so more invocations than workers only
# queue). Two: while one request decodes audio and runs the VAD on the CPU, the other keeps
# the model busy. Measured on 2 CPU cores (README "Short files"): uploads one by one 2.7x ->
# 4.8x real time, coalesced bursts 3.9x -> 4.2x (whole local flow); the GPU instance is not
# measured. Each worker holds its own copy of the model (whisper-small float16: ~0.5 GB).
DEFAULT_CONCURRENCY: Final = 2
# The worker processes share the instance's cores, and each spreads its work over all of
# them (the encoder, PyTorch's or CTranslate2's, on OpenMP threads). OpenMP's threads spin
# after each parallel region by default, waiting for the next: beside another worker that
# spinning takes the cores the other needs. Passive, they sleep (2 cores, 2 workers,
# `python -m bench.short --n 40`, 2026-12-05: one request per file 21.8-22.6x -> 41.1-44.0x,
# 10 files per request 18.1-25.5x -> 44.1-45.8x; one request at a time 24.3-40.3x either
# way, WER the same).
OPENMP_WAIT_POLICY: Final = {"OMP_WAIT_POLICY": "PASSIVE"}


def model_environment(
    *,
    region: str,
    language: str | None,
    task: str,
    hf_model_id: str | None,
    hf_model_revision: str | None = None,
    workers: int = DEFAULT_CONCURRENCY,
    beam_size: int = endpoint_settings.DEFAULT_BEAM_SIZE,
) -> dict[str, str]:
    """The container environment: the toolkit's switches plus our endpoint settings;
    ``workers`` model-server workers, one per request taken at once (``DEFAULT_CONCURRENCY``);
    ``beam_size`` the decoder's (set only where it is not the endpoint's own default)."""
    env = {
        "SAGEMAKER_PROGRAM": ENTRY_POINT,
        "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
        "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
        "SAGEMAKER_REGION": region,
        "SAGEMAKER_MODEL_SERVER_WORKERS": str(workers),
        "SAGEMAKER_MODEL_SERVER_TIMEOUT": str(MODEL_SERVER_TIMEOUT_SECONDS),
        "SAGEMAKER_MAX_PAYLOAD_IN_MB": str(MAX_PAYLOAD_MB),
        endpoint_settings.ENV_TASK: task,
        **OPENMP_WAIT_POLICY,
    }
    if language is not None:
        env[endpoint_settings.ENV_LANGUAGE] = language
    if beam_size != endpoint_settings.DEFAULT_BEAM_SIZE:
        env[endpoint_settings.ENV_BEAM_SIZE] = str(beam_size)
    if hf_model_id is not None:
        env["HF_MODEL_ID"] = hf_model_id
    if hf_model_revision is not None:  # the toolkit downloads this commit, not the moving main
        env["HF_MODEL_REVISION"] = hf_model_revision
    return env
