"""Context options change the stack as documented (one more synthesis, plus a model-dir asset)."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from cdk_synth import Synth
from twi_endpoint import settings as endpoint_settings

OPTIONS = {
    "region": "eu-west-1",
    "endpoint_name": "twi-asr-prod",
    "instance_type": "ml.g5.xlarge",
    "min_instances": "1",
    "max_instances": "3",
    "model_data": "s3://my-models/whisper-twi/model.tar.gz",
    "language": "yo",
    "task": "transcribe",
    "max_concurrent_invocations_per_instance": "3",
    "alarm_email": "ops@example.com",
}


@pytest.fixture(scope="module")
def custom(synth_app: Callable[..., Synth]) -> Synth:
    return synth_app("custom", OPTIONS)


def test_model_from_s3_with_language_in_another_region(custom: Synth) -> None:
    (model,) = custom.of_type("AWS::SageMaker::Model").values()
    container = model["Properties"]["PrimaryContainer"]
    assert container["ModelDataUrl"] == OPTIONS["model_data"]
    assert container["Image"].startswith(
        "763104351884.dkr.ecr.eu-west-1.amazonaws.com/huggingface-pytorch-inference:"
    )
    env = container["Environment"]
    assert "HF_MODEL_ID" not in env
    assert env[endpoint_settings.ENV_LANGUAGE] == "yo"
    assert model["Properties"]["EnableNetworkIsolation"] is True  # weights and wheels in the archive
    role = custom.resources[custom.logical_id("AWS::IAM::Role", "Whisper/ExecutionRole/")]
    resources = json.dumps(role["Properties"]["Policies"])
    assert "arn:aws:s3:::my-models/whisper-twi/model.tar.gz" in resources
    assert "cdk-hnb659fds-assets" not in resources  # nothing uploaded: the model is already in S3


def test_capacity_and_concurrency(custom: Synth) -> None:
    (config,) = custom.of_type("AWS::SageMaker::EndpointConfig").values()
    props = config["Properties"]
    assert props["ProductionVariants"][0]["InstanceType"] == "ml.g5.xlarge"
    assert props["ProductionVariants"][0]["InitialInstanceCount"] == 1
    assert props["AsyncInferenceConfig"]["ClientConfig"]["MaxConcurrentInvocationsPerInstance"] == 3
    (model,) = custom.of_type("AWS::SageMaker::Model").values()
    environment = model["Properties"]["PrimaryContainer"]["Environment"]
    assert environment["SAGEMAKER_MODEL_SERVER_WORKERS"] == "3"  # a worker per request taken at once
    (target,) = custom.of_type("AWS::ApplicationAutoScaling::ScalableTarget").values()
    assert (target["Properties"]["MinCapacity"], target["Properties"]["MaxCapacity"]) == (1, 3)
    assert target["Properties"]["ResourceId"] == "endpoint/twi-asr-prod/variant/AllTraffic"


def test_the_default_language_is_the_endpoint_s_not_the_lambdas(custom: Synth) -> None:
    """Submit forwards only what an upload asks for; the endpoint applies the default as "config"."""
    submit = custom.resources[custom.logical_id("AWS::Lambda::Function", "SubmitWorker/Function/")]
    env = submit["Properties"]["Environment"]["Variables"]
    assert "DEFAULT_LANGUAGE" not in env
    assert env["ENDPOINT_NAME"] == "twi-asr-prod"


def test_alarm_email_subscribes_to_the_alarm_topic(custom: Synth) -> None:
    custom.template.has_resource_properties(
        "AWS::SNS::Subscription",
        {
            "Protocol": "email",
            "Endpoint": "ops@example.com",
            "TopicArn": {"Ref": custom.logical_id("AWS::SNS::Topic", "AlarmTopic/")},
        },
    )
    assert custom.validation_report()["pluginReports"][0]["violations"] == []


def test_local_model_directory_is_packaged_and_uploaded(ct2_model_dir: Path, tmp_path: Path) -> None:
    """A model directory becomes model.tar.gz (model at the root, our code as code/), then an asset."""
    import aws_cdk as cdk
    from twi_infra.config import StackSettings
    from twi_infra.model_source import packaged_archive, resolve_model_data

    app = cdk.App(outdir=str(tmp_path / "cdk.out"))
    stack = cdk.Stack(app, "ModelOnly", env=cdk.Environment(region="us-east-1"))
    settings = StackSettings(model_data=str(ct2_model_dir))
    data = resolve_model_data(stack, settings, tmp_path / "staging")
    assert stack.resolve(data.url)["Fn::Sub"].startswith(
        "s3://cdk-hnb659fds-assets-${AWS::AccountId}-us-east-1/"
    )
    (archive,) = (tmp_path / "staging").rglob("model.tar.gz")
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert {"model.bin", "config.json", "tokenizer.json", "code/inference.py"} <= names
    assert any(n.startswith("code/wheels/faster_whisper-") for n in names)  # starts isolated
    staged = list((tmp_path / "cdk.out").glob("asset.*.gz"))
    assert len(staged) == 1 and staged[0].stat().st_size == archive.stat().st_size
    # Synthesizing again reuses the archive instead of compressing the model again.
    built_at = archive.stat().st_mtime_ns
    assert packaged_archive(ct2_model_dir, tmp_path / "staging") == archive
    assert archive.stat().st_mtime_ns == built_at
