"""`invoke`'s word on a slow answer: an endpoint scaled to zero is starting, not broken.

The SageMaker control plane is moto's (`mock_aws`): the local stack has no DescribeEndpoint.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from twi_asr.client import StackRef, TwiAsrClient

REGION = "us-east-1"


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TwiAsrClient, Any]]:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        sagemaker = session.client("sagemaker")
        sagemaker.create_model(
            ModelName="whisper-twi",
            ExecutionRoleArn="arn:aws:iam::123456789012:role/sagemaker",
            PrimaryContainer={"Image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface:latest"},
        )
        sagemaker.create_endpoint_config(
            EndpointConfigName="twi-asr-config",
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": "whisper-twi",
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.g4dn.xlarge",
                }
            ],
        )
        sagemaker.create_endpoint(EndpointName="twi-asr", EndpointConfigName="twi-asr-config")
        yield TwiAsrClient(StackRef("bucket", "twi-asr", REGION), session=session), sagemaker


def test_scaled_to_zero_says_an_instance_is_starting(client: tuple[TwiAsrClient, Any]) -> None:
    asr, sagemaker = client
    sagemaker.update_endpoint_weights_and_capacities(
        EndpointName="twi-asr",
        DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredInstanceCount": 0}],
    )
    message = asr.warming_message("twi-asr")
    assert "scaled to zero" in message
    assert "several minutes" in message


def test_running_endpoint_says_it_is_busy(client: tuple[TwiAsrClient, Any]) -> None:
    asr, _ = client
    assert "has 1 instance(s) busy" in asr.warming_message("twi-asr")


def test_unknown_endpoint_still_waits_without_crashing(client: tuple[TwiAsrClient, Any]) -> None:
    asr, _ = client
    assert asr.warming_message("no-such-endpoint") == "still waiting for 'no-such-endpoint'..."
