"""boto3 clients, created lazily once per Lambda container and reused across invocations.

No endpoint URLs here: boto3 itself honours ``AWS_ENDPOINT_URL`` and
``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME``, so the offline local stack runs this same code.
"""

from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config

# Standard retry mode backs off on throttling; SQS redelivery is the outer retry loop.
_CONFIG = Config(retries={"max_attempts": 4, "mode": "standard"}, connect_timeout=5, read_timeout=30)


@functools.cache
def s3_client() -> Any:
    return boto3.client("s3", config=_CONFIG)


@functools.cache
def sagemaker_runtime_client() -> Any:
    return boto3.client("sagemaker-runtime", config=_CONFIG)
