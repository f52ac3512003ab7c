"""The environment each local process gets: what the CDK stack gives the functions and the
model, plus the local endpoint URLs and moto's dummy credentials.

Pure functions, so what a Lambda or the container will see is checked without starting them.
The stack's part comes from ``twi_infra.runtime_values``, the functions the CDK stack calls.
"""

from __future__ import annotations

import os

from twi_infra.runtime_values import function_environment, model_environment

from twi_asr.local.config import DEPLOYED, FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY, FUNCTIONS, LocalConfig


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
    worker = FUNCTIONS[function_name]
    return {
        **aws_environment(config, aws_endpoint_url, sagemaker_runtime_url),
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(worker.memory_mb),
        **function_environment(
            worker,
            bucket_name=config.bucket,
            endpoint_name=config.endpoint_name,
            task=config.task or DEPLOYED.task,
            coalescing=config.coalescing or DEPLOYED.coalescing,
        ),
    }


def container_environment(config: LocalConfig) -> dict[str, str]:
    """The model's environment (the CDK stack's SageMaker model ``Environment``)."""
    return model_environment(
        region=config.region,
        language=config.language,
        task=config.task or DEPLOYED.task,
        hf_model_id=None,
        workers=config.max_concurrent_invocations,
    )
