"""Fixtures for the Lambda tests: moto-backed AWS, a bucket, the functions' settings and
clients wired the way a Lambda container wires them (env vars, lazily cached clients)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from lambda_support import BUCKET, ENDPOINT, REGION, Invocations, sqs_queue
from moto import mock_aws
from twi_lambdas import aws, names
from twi_lambdas.settings import Settings, load_settings

NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"})


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials and the functions' env vars; the per-container caches are cleared
    so every test builds settings and clients from its own environment."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        names.ENV_ENDPOINT_NAME: ENDPOINT,
        names.ENV_BUCKET_NAME: BUCKET,
        names.ENV_DEFAULT_TASK: "transcribe",
        names.ENV_INVOCATION_TIMEOUT_SECONDS: "1800",
    }.items():
        monkeypatch.setenv(name, value)
    for name in (
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME",
        "AWS_PROFILE",
    ):
        monkeypatch.delenv(name, raising=False)
    _clear_caches()
    yield
    _clear_caches()


def _clear_caches() -> None:
    load_settings.cache_clear()
    aws.s3_client.cache_clear()
    aws.sagemaker_runtime_client.cache_clear()


@pytest.fixture
def moto_aws(aws_env: None) -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def s3(moto_aws: None) -> Any:
    client = boto3.client("s3", region_name=REGION)
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def uploads_queue(s3: Any) -> tuple[Any, str]:
    """The stack's wiring in miniature: a versioned bucket announcing audio/ to a queue (read
    it with ``lambda_support.created_events``)."""
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    sqs = boto3.client("sqs", region_name=REGION)
    url, arn = sqs_queue(sqs, "uploads")
    s3.put_bucket_notification_configuration(
        Bucket=BUCKET,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": names.AUDIO_PREFIX}]}},
                }
            ]
        },
    )
    return sqs, url


@pytest.fixture
def settings(aws_env: None) -> Settings:
    return load_settings()


@pytest.fixture
def sagemaker(moto_aws: None) -> tuple[Any, Invocations]:
    """A sagemaker-runtime client without retries (a throttling test fails fast) and the
    list of InvokeEndpointAsync requests it sent."""
    client = boto3.client("sagemaker-runtime", region_name=REGION, config=NO_RETRY)
    invocations = Invocations()
    client.meta.events.register(
        "provide-client-params.sagemaker-runtime.InvokeEndpointAsync", invocations.capture
    )
    return client, invocations


@pytest.fixture
def lambda_invocations(moto_aws: None) -> Invocations:
    """Capture what the handler's own (lazily created, cached) client sends."""
    invocations = Invocations()
    aws.sagemaker_runtime_client().meta.events.register(
        "provide-client-params.sagemaker-runtime.InvokeEndpointAsync", invocations.capture
    )
    return invocations
