"""The one source of names shared by the CDK stack, the Lambda functions, the offline
local stack and the tests, so that none of them can drift from the others.
"""

from __future__ import annotations

from typing import Final

# --- S3 layout (one bucket) -------------------------------------------------------------
AUDIO_PREFIX: Final = "audio/"  # users upload here; the only prefix that triggers work
TRANSCRIPTS_PREFIX: Final = "transcripts/"  # complete Lambda: <path>.json (+ .srt/.vtt)
FAILED_PREFIX: Final = "failed/"  # submit/complete Lambda: <path>.json with a reason
ASYNC_OUTPUT_PREFIX: Final = "async-output/"  # SageMaker: raw <uuid>.out
ASYNC_FAILURE_PREFIX: Final = "async-failures/"  # SageMaker: raw <uuid>-error.out

# --- Environment variables read by the Lambda functions ----------------------------------
ENV_ENDPOINT_NAME: Final = "ENDPOINT_NAME"
ENV_BUCKET_NAME: Final = "BUCKET_NAME"
ENV_DEFAULT_LANGUAGE: Final = "DEFAULT_LANGUAGE"  # passed to the endpoint when the upload names none
ENV_DEFAULT_TASK: Final = "DEFAULT_TASK"
ENV_MAX_INPUT_BYTES: Final = "MAX_INPUT_BYTES"
ENV_INVOCATION_TIMEOUT_SECONDS: Final = "INVOCATION_TIMEOUT_SECONDS"
ENV_METRICS_NAMESPACE: Final = "METRICS_NAMESPACE"

# --- Logical names of the resources (CDK construct ids and local-stack names) ------------
SUBMIT_QUEUE: Final = "submit-queue"
SUBMIT_DLQ: Final = "submit-dlq"
RESULT_QUEUE: Final = "result-queue"
RESULT_DLQ: Final = "result-dlq"
SUCCESS_TOPIC: Final = "success-topic"
ERROR_TOPIC: Final = "error-topic"
MAX_RECEIVE_COUNT: Final = 5  # receives before a message moves to its DLQ

METRICS_NAMESPACE: Final = "TwiAsr"

# --- SageMaker async limits (InvokeEndpointAsync) -----------------------------------------
MAX_ASYNC_INPUT_BYTES: Final = 1024**3  # 1 GB payload limit
MAX_INVOCATION_TIMEOUT_SECONDS: Final = 3600
MAX_CUSTOM_ATTRIBUTES_CHARS: Final = 1024
