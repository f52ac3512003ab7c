"""The environment each local process gets: what the CDK stack gives the functions and the
model, plus the local endpoint URLs and moto's dummy credentials.

Pure functions, so what a Lambda or the container will see is checked without starting them.
The Lambda values mirror ``twi_infra.stack`` (common: bucket, default task/language, metrics
namespace; submit: endpoint name, input limit, invocation timeout).
"""

from __future__ import annotations

import os
from typing import Final

from twi_endpoint.settings import ENV_LANGUAGE, ENV_TASK
from twi_lambdas import names

from twi_asr.local.config import (
    FAKE_ACCESS_KEY_ID,
    FAKE_SECRET_ACCESS_KEY,
    SUBMIT_FUNCTION,
    LocalConfig,
)

ENV_SAGEMAKER_PROGRAM: Final = "SAGEMAKER_PROGRAM"  # the toolkit's switch naming the entry module
LAMBDA_MEMORY_MB: Final = 512


def aws_environment(config: LocalConfig, aws_endpoint_url: str, sagemaker_runtime_url: str) -> dict[str, str]:
    """boto3's view of "AWS": the local endpoints, the region, moto's dummy credentials."""
    return {
        "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_ACCESS_KEY,
        "AWS_REGION": config.region,
        "AWS_DEFAULT_REGION": config.region,
        "AWS_ENDPOINT_URL": aws_endpoint_url,
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": sagemaker_runtime_url,
        "AWS_CONFIG_FILE": os.devnull,  # a user's ~/.aws must not redirect anything
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


def lambda_environment(
    config: LocalConfig, function_name: str, aws_endpoint_url: str, sagemaker_runtime_url: str
) -> dict[str, str]:
    """One function's environment: AWS's, Lambda's own variables, and the stack's settings."""
    env = {
        **aws_environment(config, aws_endpoint_url, sagemaker_runtime_url),
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(LAMBDA_MEMORY_MB),
        names.ENV_BUCKET_NAME: config.bucket,
        names.ENV_DEFAULT_TASK: config.task or "transcribe",
        names.ENV_METRICS_NAMESPACE: names.METRICS_NAMESPACE,
    }
    if config.language:
        env[names.ENV_DEFAULT_LANGUAGE] = config.language
    if function_name == SUBMIT_FUNCTION:
        env[names.ENV_ENDPOINT_NAME] = config.endpoint_name
        env[names.ENV_MAX_INPUT_BYTES] = str(names.MAX_ASYNC_INPUT_BYTES)
        env[names.ENV_INVOCATION_TIMEOUT_SECONDS] = str(names.MAX_INVOCATION_TIMEOUT_SECONDS)
    return env


def container_environment(config: LocalConfig) -> dict[str, str]:
    """The model's environment (the CDK stack's SageMaker model ``Environment``)."""
    env = {ENV_SAGEMAKER_PROGRAM: "inference.py"}
    if config.language:
        env[ENV_LANGUAGE] = config.language
    if config.task:
        env[ENV_TASK] = config.task
    return env
