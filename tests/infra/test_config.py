"""Stack configuration (CDK context) and the pure L1 builders: no synthesis needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from twi_endpoint import settings as endpoint_settings
from twi_infra import builders, runtime_values
from twi_infra.config import ConfigError, StackSettings
from twi_lambdas import names
from twi_lambdas.settings import Settings


def _settings(context: dict[str, Any], env: dict[str, str] | None = None) -> StackSettings:
    return StackSettings.from_context(context.get, env or {})


def test_defaults_synthesize_anywhere() -> None:
    s = _settings({})
    assert (s.region, s.account, s.instance_type) == ("us-east-1", None, "ml.g4dn.xlarge")
    assert (s.min_instances, s.max_instances) == (0, 2)
    assert s.model_source == "hub" and s.effective_hf_model_id == "openai/whisper-base"
    assert s.language is None and s.task == "transcribe"


def test_cli_strings_and_cdk_json_values_parse_alike() -> None:
    from_cli = _settings(
        {"min_instances": "1", "max_instances": "4", "backlog_per_instance_target": "3.5", "language": "YO"}
    )
    from_json = _settings(
        {"min_instances": 1, "max_instances": 4, "backlog_per_instance_target": 3.5, "language": "YO"}
    )
    assert from_cli == from_json
    s = from_cli
    assert (s.min_instances, s.max_instances, s.backlog_per_instance_target) == (1, 4, 3.5)


def test_region_and_account_come_from_the_cdk_environment_unless_given() -> None:
    env = {"CDK_DEFAULT_REGION": "eu-west-1", "CDK_DEFAULT_ACCOUNT": "123456789012"}
    assert (_settings({}, env).region, _settings({}, env).account) == ("eu-west-1", "123456789012")
    assert _settings({"region": "af-south-1"}, env).region == "af-south-1"


def test_model_sources(tmp_path: Path) -> None:
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(b"")
    assert _settings({"model_data": "s3://my-models/whisper/model.tar.gz"}).model_source == "s3"
    assert _settings({"model_data": str(tmp_path)}).model_source == "local"
    local = _settings({"model_data": str(archive)})
    assert local.model_source == "local" and local.effective_hf_model_id is None
    hub = _settings({"hf_model_id": "openai/whisper-large-v3"})
    assert hub.effective_hf_model_id == "openai/whisper-large-v3"
    assert _settings({"language": "auto"}).language is None


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"min_instances": "two"}, r"min_instances='two' is invalid: expected an integer"),
        ({"min_instances": 3, "max_instances": 2}, r"min_instances=3 .* at most max_instances \(2\)"),
        ({"max_instances": 0}, r"max_instances=0 .* between 1 and 100"),
        ({"instance_type": "g4dn.xlarge"}, r"instance_type='g4dn.xlarge' .* such as ml.g4dn.xlarge"),
        ({"region": "Europe"}, r"region='Europe'"),
        ({"account": "12345"}, r"account='12345' .* 12-digit"),
        ({"endpoint_name": "twi_asr"}, r"endpoint_name='twi_asr'"),
        ({"model_data": "s3://bucket/model.zip"}, r"model_data=.* s3://bucket/key.tar.gz"),
        (
            {"model_data": "/nonexistent/model"},
            r"model_data='/nonexistent/model' .* existing model directory",
        ),
        (
            {"model_data": "s3://b-1/m.tar.gz", "hf_model_id": "openai/whisper-base"},
            r"either model_data .* not both",
        ),
        ({"hf_model_id": "not a model id"}, r"hf_model_id='not a model id'"),
        ({"task": "summarize"}, r"task='summarize' .* transcribe, translate"),
        ({"language": "twi language"}, r"language='twi language'"),
        ({"alarm_email": "ops"}, r"alarm_email='ops' .* e-mail"),
        ({"max_concurrent_invocations_per_instance": 0}, r"max_concurrent_invocations_per_instance=0"),
        ({"oldest_request_alarm_seconds": 5}, r"oldest_request_alarm_seconds=5 .* at least 60"),
        ({"beam_size": 0}, r"beam_size=0 .* between 1 and 10"),
        ({"beam_size": "11"}, r"beam_size=11 .* between 1 and 10"),
        ({"instance_type": 42}, r"instance_type=42 is invalid: expected a string"),
        ({"max_instances": True}, r"max_instances=True is invalid: expected an integer"),
        ({"coalesce_max_files": 0}, r"coalesce_max_files=0 .* between 1 \(no coalescing\) and 30"),
        ({"coalesce_max_files": "31"}, r"coalesce_max_files=31 .* between 1 \(no coalescing\) and 30"),
        ({"coalesce_max_bytes": 2**30}, r"coalesce_max_bytes=1073741824 .* between 1 and 67108864"),
        (
            {"coalesce_max_file_bytes": 2**20, "coalesce_max_bytes": 2**19},
            r"coalesce_max_file_bytes=1048576 .* between 1 and coalesce_max_bytes \(524288\)",
        ),
    ],
)
def test_bad_context_names_the_key_and_the_fix(context: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        _settings(context)
    assert "-c " in str(info.value) or "not both" in str(info.value)


def test_coalescing_reaches_the_submit_function_only() -> None:
    s = _settings({"coalesce_max_files": "4", "coalesce_max_file_bytes": "1000", "coalesce_max_bytes": 3000})
    assert s.coalescing == runtime_values.Coalescing(4, 1000, 3000)
    assert _settings({}).coalescing == runtime_values.Coalescing()  # the defaults, in one place
    env = {
        worker: runtime_values.function_environment(
            worker, bucket_name="b", endpoint_name="e", task="transcribe", coalescing=s.coalescing
        )
        for worker in (runtime_values.SUBMIT, runtime_values.COMPLETE, runtime_values.RECONCILE)
    }
    read = Settings.from_env(env[runtime_values.SUBMIT])  # what the function makes of it
    assert (read.coalesce_max_files, read.coalesce_max_file_bytes, read.coalesce_max_bytes) == (4, 1000, 3000)
    assert all(names.ENV_COALESCE_MAX_FILES not in env[w] for w in env if w != runtime_values.SUBMIT)


def test_model_environment_carries_endpoint_settings() -> None:
    env = runtime_values.model_environment(
        region="eu-west-1", language="yo", task="translate", hf_model_id=None
    )
    assert env[endpoint_settings.ENV_LANGUAGE] == "yo"
    assert env[endpoint_settings.ENV_TASK] == "translate"
    assert env["SAGEMAKER_PROGRAM"] == "inference.py"
    assert env["SAGEMAKER_REGION"] == "eu-west-1"
    assert "HF_MODEL_ID" not in env
    # what the endpoint reads back must parse
    parsed = endpoint_settings.EndpointSettings.from_env(env)
    assert (parsed.language, parsed.task) == ("yo", "translate")


def test_beam_size_reaches_the_container_only_where_asked() -> None:
    """The endpoint's own default needs no variable; another is set and parses back."""
    assert _settings({}).beam_size == endpoint_settings.DEFAULT_BEAM_SIZE
    plain = runtime_values.model_environment(
        region="eu-west-1", language=None, task="transcribe", hf_model_id=None
    )
    assert endpoint_settings.ENV_BEAM_SIZE not in plain
    s = _settings({"beam_size": "5"})
    env = runtime_values.model_environment(
        region=s.region, language=None, task=s.task, hf_model_id=None, beam_size=s.beam_size
    )
    assert env[endpoint_settings.ENV_BEAM_SIZE] == "5"
    assert endpoint_settings.EndpointSettings.from_env(env).beam_size == 5


@pytest.mark.parametrize(("asked", "initial"), [(0, 1), (3, 3)])
def test_production_variant_starts_with_at_least_one_instance(asked: int, initial: int) -> None:
    """CloudFormation wants InitialInstanceCount >= 1; scaling takes it to 0 when idle."""
    variant = builders.production_variant(
        model_name="m", instance_type="ml.g5.xlarge", initial_instance_count=asked
    )
    assert variant.initial_instance_count == initial
    startup_timeout = variant.container_startup_health_check_timeout_in_seconds
    assert startup_timeout == builders.STARTUP_HEALTH_CHECK_TIMEOUT_SECONDS


def test_async_config_builder() -> None:
    config = builders.async_inference_config(
        bucket_name="b",
        success_topic_arn="arn:ok",
        error_topic_arn="arn:err",
        max_concurrent_invocations_per_instance=4,
    )
    output: Any = config.output_config  # jsii unions (value | IResolvable): plain values here
    client: Any = config.client_config
    assert output.s3_output_path == "s3://b/async-output/"
    assert output.s3_failure_path == "s3://b/async-failures/"
    notification = output.notification_config
    assert (notification.success_topic, notification.error_topic) == ("arn:ok", "arn:err")
    assert client.max_concurrent_invocations_per_instance == 4


def test_scaling_builders() -> None:
    tracking = builders.backlog_target_tracking(endpoint_name="e", target_backlog_per_instance=2.0)
    metric: Any = tracking.customized_metric_specification
    assert (metric.namespace, metric.metric_name) == ("AWS/SageMaker", "ApproximateBacklogSizePerInstance")
    assert metric.dimensions[0].name == "EndpointName" and metric.dimensions[0].value == "e"
    step: Any = builders.leave_zero_step_scaling()
    assert step.adjustment_type == "ChangeInCapacity"
    assert step.step_adjustments[0].scaling_adjustment == 1
    assert builders.scaling_resource_id("e") == "endpoint/e/variant/AllTraffic"


def test_ecr_repository_arn() -> None:
    uri = "763104351884.dkr.ecr.eu-west-1.amazonaws.com/huggingface-pytorch-inference:2.6.0-gpu"
    assert builders.ecr_repository_arn(uri) == (
        "arn:aws:ecr:eu-west-1:763104351884:repository/huggingface-pytorch-inference"
    )
    with pytest.raises(ValueError, match="not an ECR image URI"):
        builders.ecr_repository_arn("docker.io/library/python:3.12")


def test_unknown_region_or_instance_family_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"no Hugging Face .* region 'xx-north-9'"):
        builders.image_uri("xx-north-9", "ml.g5.xlarge")
    assert "-cpu-py312-" in builders.image_uri("us-east-1", "ml.m5.xlarge")


def test_cdk_app_reports_bad_context_in_one_line(tmp_path: Path) -> None:
    """What `cdk synth -c max_instances=x` shows: the key and the fix, not a jsii traceback."""
    import json
    import os
    import subprocess
    import sys

    infra = Path(__file__).resolve().parents[2] / "infra"
    env = {
        **os.environ,
        "CDK_CONTEXT_JSON": json.dumps({"max_instances": "x"}),  # how the CDK CLI passes -c
        "CDK_OUTDIR": str(tmp_path),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    proc = subprocess.run(
        [sys.executable, "app.py"], cwd=infra, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: context max_instances='x' is invalid: expected an integer (set it with -c max_instances=...)"
    )
