"""TwiAsrStack as synthesized: every resource of the design, with the properties that matter."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib.metadata import version
from typing import Any

import pytest
from aws_cdk.assertions import Match
from cdk_synth import Synth
from sagemaker.core import image_uris
from twi_endpoint import settings as endpoint_settings
from twi_infra import builders, functions
from twi_infra.output_keys import OutputKeys
from twi_infra.runtime_values import COMPLETE, SUBMIT, Worker
from twi_lambdas import names


def _ref_id(value: Any) -> str | None:
    """The logical id behind ``{"Ref": id}`` or ``{"Fn::GetAtt": [id, attr]}``."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
    return None


# --- S3 -------------------------------------------------------------------------------------


def test_data_bucket_is_private_encrypted_versioned_and_logged(synth: Synth) -> None:
    buckets = synth.of_type("AWS::S3::Bucket")
    assert len(buckets) == 2
    data_id = synth.logical_id("AWS::S3::Bucket", "Storage/Data/")
    logs_id = synth.logical_id("AWS::S3::Bucket", "Storage/AccessLogs/")
    for props in (b["Properties"] for b in buckets.values()):
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
            "ServerSideEncryptionByDefault"
        ]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
    data = buckets[data_id]["Properties"]
    assert data["VersioningConfiguration"] == {"Status": "Enabled"}
    assert _ref_id(data["LoggingConfiguration"]["DestinationBucketName"]) == logs_id
    assert buckets[data_id]["DeletionPolicy"] == "Retain"


def test_every_bucket_policy_denies_plain_http(synth: Synth) -> None:
    policies = synth.of_type("AWS::S3::BucketPolicy")
    assert {_ref_id(p["Properties"]["Bucket"]) for p in policies.values()} == set(
        synth.of_type("AWS::S3::Bucket")
    )
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny"
            and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
            for s in statements
        )


def test_raw_endpoint_output_expires(synth: Synth) -> None:
    data = synth.resources[synth.logical_id("AWS::S3::Bucket", "Storage/Data/")]["Properties"]
    rules = {r.get("Prefix"): r for r in data["LifecycleConfiguration"]["Rules"]}
    for prefix in (names.ASYNC_OUTPUT_PREFIX, names.ASYNC_FAILURE_PREFIX, names.ASYNC_INPUT_PREFIX):
        assert rules[prefix]["Status"] == "Enabled"
        assert rules[prefix]["ExpirationInDays"] == 14
    for kept in (names.AUDIO_PREFIX, names.TRANSCRIPTS_PREFIX, names.FAILED_PREFIX):
        assert kept not in rules  # users' files and results never expire by rule


def test_only_audio_uploads_trigger_work(synth: Synth) -> None:
    """A transcript write must never start another transcription."""
    (notification,) = synth.of_type("Custom::S3BucketNotifications").values()
    config = notification["Properties"]["NotificationConfiguration"]
    assert set(config) == {"QueueConfigurations"}
    (queue_config,) = config["QueueConfigurations"]
    assert queue_config["Events"] == ["s3:ObjectCreated:*"]
    assert queue_config["Filter"] == {
        "Key": {"FilterRules": [{"Name": "prefix", "Value": names.AUDIO_PREFIX}]}
    }
    assert _ref_id(queue_config["QueueArn"]) == synth.logical_id("AWS::SQS::Queue", names.SUBMIT_QUEUE)
    assert _ref_id(notification["Properties"]["BucketName"]) == synth.logical_id(
        "AWS::S3::Bucket", "Storage/Data/"
    )


# --- SQS / SNS / Lambda ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("queue", "dlq", "function"),
    [
        (names.SUBMIT_QUEUE, names.SUBMIT_DLQ, "SubmitWorker"),
        (names.RESULT_QUEUE, names.RESULT_DLQ, "CompleteWorker"),
    ],
)
def test_queue_has_dlq_alarm_and_outlasts_its_consumer(
    synth: Synth, queue: str, dlq: str, function: str
) -> None:
    queues = synth.of_type("AWS::SQS::Queue")
    queue_id = synth.logical_id("AWS::SQS::Queue", queue)
    dlq_id = synth.logical_id("AWS::SQS::Queue", dlq)
    props = queues[queue_id]["Properties"]
    assert props["RedrivePolicy"]["maxReceiveCount"] == names.MAX_RECEIVE_COUNT
    assert _ref_id(props["RedrivePolicy"]["deadLetterTargetArn"]) == dlq_id
    assert props["SqsManagedSseEnabled"] is True
    assert queues[dlq_id]["Properties"]["SqsManagedSseEnabled"] is True
    fn = synth.resources[synth.logical_id("AWS::Lambda::Function", f"{function}/Function/")]["Properties"]
    assert props["VisibilityTimeout"] > fn["Timeout"]
    dlq_alarms = [
        a["Properties"]
        for a in synth.of_type("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
        and _ref_id(a["Properties"]["Dimensions"][0]["Value"]) is not None
        and a["Properties"]["Dimensions"][0]["Value"] == {"Fn::GetAtt": [dlq_id, "QueueName"]}
    ]
    assert len(dlq_alarms) == 1
    assert dlq_alarms[0]["Threshold"] == 0
    assert dlq_alarms[0]["ComparisonOperator"] == "GreaterThanThreshold"
    assert dlq_alarms[0]["AlarmActions"], "a DLQ alarm nobody hears is no alarm"


def test_queues_accept_only_tls(synth: Synth) -> None:
    policies = synth.of_type("AWS::SQS::QueuePolicy")
    covered = {_ref_id(q) for p in policies.values() for q in p["Properties"]["Queues"]}
    assert covered == set(synth.of_type("AWS::SQS::Queue"))


def test_topics_encrypted_with_the_stack_key_and_feeding_the_result_queue(synth: Synth) -> None:
    topics = synth.of_type("AWS::SNS::Topic")
    key_id = synth.logical_id("AWS::KMS::Key", "NotificationKey/")
    assert len(topics) == 3  # success, error, alarms
    for topic in topics.values():
        assert _ref_id(topic["Properties"]["KmsMasterKeyId"]) == key_id
    assert synth.resources[key_id]["Properties"]["EnableKeyRotation"] is True
    result_queue = synth.logical_id("AWS::SQS::Queue", names.RESULT_QUEUE)
    subscriptions = [s["Properties"] for s in synth.of_type("AWS::SNS::Subscription").values()]
    sqs_subs = [s for s in subscriptions if s["Protocol"] == "sqs"]
    assert {_ref_id(s["TopicArn"]) for s in sqs_subs} == {
        synth.logical_id("AWS::SNS::Topic", names.SUCCESS_TOPIC),
        synth.logical_id("AWS::SNS::Topic", names.ERROR_TOPIC),
    }
    assert all(_ref_id(s["Endpoint"]) == result_queue for s in sqs_subs)


@pytest.mark.parametrize(("function", "worker"), [("SubmitWorker", SUBMIT), ("CompleteWorker", COMPLETE)])
def test_lambda_reads_its_queue_with_partial_batch_failures(
    synth: Synth, function: str, worker: Worker
) -> None:
    fn_id = synth.logical_id("AWS::Lambda::Function", f"{function}/Function/")
    fn = synth.resources[fn_id]["Properties"]
    assert fn["Handler"] == worker.handler
    assert (fn["Timeout"], fn["MemorySize"]) == (worker.timeout_s, worker.memory_mb)
    assert fn["Runtime"] == "python3.12"
    assert _ref_id(fn["LoggingConfig"]["LogGroup"]) == synth.logical_id(
        "AWS::Logs::LogGroup", f"{function}/Logs/"
    )
    env = fn["Environment"]["Variables"]
    assert env[names.ENV_METRICS_NAMESPACE] == names.METRICS_NAMESPACE
    assert env[names.ENV_SERVICE_NAME] == names.SERVICE_NAME
    assert fn["TracingConfig"] == {"Mode": "Active"}
    (layer,) = fn["Layers"]  # Powertools: the AWS-managed layer of the pinned version
    assert synth.template.to_json()["Parameters"][_ref_id(layer)] == {
        "Type": "AWS::SSM::Parameter::Value<String>",
        "Default": "/aws/service/powertools/python/arm64/python3.12/3.37.0",
    }
    granted = _role_actions(synth, f"{function}/Role/")
    assert granted["xray:PutTraceSegments"] == granted["xray:PutTelemetryRecords"] == ['"*"']
    assert _ref_id(env[names.ENV_BUCKET_NAME]) == synth.logical_id("AWS::S3::Bucket", "Storage/Data/")
    if function == "SubmitWorker":
        assert env[names.ENV_ENDPOINT_NAME] == "twi-asr"
        assert int(env[names.ENV_INVOCATION_TIMEOUT_SECONDS]) <= names.MAX_INVOCATION_TIMEOUT_SECONDS
        assert env[names.ENV_COALESCE_MAX_FILES] == str(names.DEFAULT_COALESCE_MAX_FILES)
        assert env[names.ENV_COALESCE_MAX_FILE_BYTES] == str(names.DEFAULT_COALESCE_MAX_FILE_BYTES)
        assert env[names.ENV_COALESCE_MAX_BYTES] == str(names.DEFAULT_COALESCE_MAX_BYTES)
    else:
        assert names.ENV_COALESCE_MAX_FILES not in env  # only submit coalesces
    (mapping,) = [
        m["Properties"]
        for m in synth.of_type("AWS::Lambda::EventSourceMapping").values()
        if _ref_id(m["Properties"]["FunctionName"]) == fn_id
    ]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BatchSize"] == worker.batch_size
    # submit waits to coalesce short uploads; complete invokes at once (no result held back)
    assert mapping.get("MaximumBatchingWindowInSeconds", 0) == worker.batching_window_s
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": worker.max_concurrency}
    assert _ref_id(mapping["EventSourceArn"]) == synth.logical_id("AWS::SQS::Queue", worker.queue)


def test_the_layer_is_the_powertools_version_the_tests_run_with() -> None:
    assert version("aws-lambda-powertools") == functions.POWERTOOLS_VERSION


def test_lambda_asset_holds_the_handlers(synth: Synth) -> None:
    asset = synth.lambda_asset_dir()
    assert (asset / "twi_lambdas" / "complete.py").is_file() and (asset / "twi_contract.py").is_file()
    assert not list(asset.rglob("__pycache__"))


# --- SageMaker ----------------------------------------------------------------------------------


def test_model_runs_our_code_on_the_hugging_face_dlc(synth: Synth) -> None:
    (model,) = synth.of_type("AWS::SageMaker::Model").values()
    container = model["Properties"]["PrimaryContainer"]
    assert container["Image"] == image_uris.retrieve(
        framework="huggingface",
        region="us-east-1",
        version="4.51.3",
        base_framework_version="pytorch2.6.0",
        image_scope="inference",
        instance_type="ml.g4dn.xlarge",
        py_version="py312",
    )
    assert "-gpu-py312-" in container["Image"]
    env = container["Environment"]
    assert env["SAGEMAKER_PROGRAM"] == "inference.py"
    assert env[endpoint_settings.ENV_TASK] == "transcribe"
    assert endpoint_settings.ENV_LANGUAGE not in env  # unset: the model detects it
    assert env["HF_MODEL_ID"] == "openai/whisper-base"  # default source: weights from the Hub
    assert int(env["SAGEMAKER_MODEL_SERVER_TIMEOUT"]) >= 3600
    assert env["SAGEMAKER_MODEL_SERVER_WORKERS"] == "2"  # = MaxConcurrentInvocationsPerInstance
    assert env["OMP_WAIT_POLICY"] == "PASSIVE"  # the workers share the cores: no spinning threads
    assert int(env["SAGEMAKER_MAX_PAYLOAD_IN_MB"]) * 2**20 >= names.MAX_ASYNC_INPUT_BYTES
    assert "cdk-hnb659fds-assets" in json.dumps(container["ModelDataUrl"])


def test_code_only_archive_is_staged_for_the_hub_model(synth: Synth) -> None:
    import tarfile

    manifest = json.loads((synth.outdir / f"{synth.stack.stack_name}.assets.json").read_text())
    archives = [synth.outdir / f["source"]["path"] for f in manifest["files"].values()]
    (archive,) = [a for a in archives if a.name.endswith(".tar.gz")]
    with tarfile.open(archive) as tar:
        names_in = tar.getnames()
    assert "code/inference.py" in names_in
    assert all(n.startswith("code/") for n in names_in)


def test_endpoint_config_is_asynchronous(synth: Synth) -> None:
    (config,) = synth.of_type("AWS::SageMaker::EndpointConfig").values()
    props = config["Properties"]
    bucket_id = synth.logical_id("AWS::S3::Bucket", "Storage/Data/")
    output = props["AsyncInferenceConfig"]["OutputConfig"]
    assert output["S3OutputPath"] == {
        "Fn::Join": ["", ["s3://", {"Ref": bucket_id}, f"/{names.ASYNC_OUTPUT_PREFIX}"]]
    }
    assert output["S3FailurePath"] == {
        "Fn::Join": ["", ["s3://", {"Ref": bucket_id}, f"/{names.ASYNC_FAILURE_PREFIX}"]]
    }
    assert _ref_id(output["NotificationConfig"]["SuccessTopic"]) == synth.logical_id(
        "AWS::SNS::Topic", names.SUCCESS_TOPIC
    )
    assert _ref_id(output["NotificationConfig"]["ErrorTopic"]) == synth.logical_id(
        "AWS::SNS::Topic", names.ERROR_TOPIC
    )
    assert props["AsyncInferenceConfig"]["ClientConfig"] == {"MaxConcurrentInvocationsPerInstance": 2}
    (variant,) = props["ProductionVariants"]
    assert variant["InstanceType"] == "ml.g4dn.xlarge"
    assert variant["VariantName"] == builders.VARIANT_NAME
    assert variant["ContainerStartupHealthCheckTimeoutInSeconds"] > 600
    assert variant["ModelDataDownloadTimeoutInSeconds"] > 600
    (endpoint,) = synth.of_type("AWS::SageMaker::Endpoint").values()
    assert endpoint["Properties"]["EndpointName"] == "twi-asr"


def test_scales_between_zero_and_max_on_backlog(synth: Synth) -> None:
    (target_id, target), *_ = synth.of_type("AWS::ApplicationAutoScaling::ScalableTarget").items()
    t = target["Properties"]
    assert (t["MinCapacity"], t["MaxCapacity"]) == (0, 2)
    assert t["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert t["ResourceId"] == f"endpoint/twi-asr/variant/{builders.VARIANT_NAME}"
    assert synth.logical_id("AWS::SageMaker::Endpoint", "Whisper/Endpoint") in target["DependsOn"]
    policies = {
        p["Properties"]["PolicyType"]: (k, p["Properties"])
        for k, p in synth.of_type("AWS::ApplicationAutoScaling::ScalingPolicy").items()
    }
    assert set(policies) == {"TargetTrackingScaling", "StepScaling"}
    tracking = policies["TargetTrackingScaling"][1]
    assert _ref_id(tracking["ScalingTargetId"]) == target_id
    metric = tracking["TargetTrackingScalingPolicyConfiguration"]["CustomizedMetricSpecification"]
    assert metric["MetricName"] == "ApproximateBacklogSizePerInstance"
    assert metric["Namespace"] == "AWS/SageMaker"
    assert metric["Dimensions"] == [{"Name": "EndpointName", "Value": "twi-asr"}]
    step_id, step = policies["StepScaling"]
    assert _ref_id(step["ScalingTargetId"]) == target_id
    assert step["StepScalingPolicyConfiguration"]["StepAdjustments"] == [
        {"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}
    ]
    synth.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "HasBacklogWithoutCapacity",
            "Namespace": "AWS/SageMaker",
            "Dimensions": [{"Name": "EndpointName", "Value": "twi-asr"}],
            "AlarmActions": [{"Ref": step_id}],
            "Threshold": 1,
        },
    )


# --- IAM ----------------------------------------------------------------------------------------

# The only statements allowed a "*" resource: actions IAM defines without a resource type.
NO_RESOURCE_TYPE_ACTIONS = {"ecr:GetAuthorizationToken", "xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def _statements(synth: Synth) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(logical id, kind, statement) for every policy document in the template."""
    for logical_id, res in synth.resources.items():
        props = res.get("Properties", {})
        docs: list[tuple[str, dict[str, Any]]] = []
        if res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            docs.append(("identity", props["PolicyDocument"]))
        elif res["Type"] == "AWS::IAM::Role":
            docs += [("identity", p["PolicyDocument"]) for p in props.get("Policies", [])]
            docs.append(("trust", props["AssumeRolePolicyDocument"]))
        elif res["Type"] == "AWS::KMS::Key":
            docs.append(("key", props["KeyPolicy"]))
        elif "PolicyDocument" in props:
            docs.append(("resource", props["PolicyDocument"]))
        for kind, doc in docs:
            for statement in doc["Statement"]:
                yield logical_id, kind, statement


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_no_star_resource_where_a_narrower_one_exists(synth: Synth) -> None:
    seen = 0
    for logical_id, kind, statement in _statements(synth):
        seen += 1
        if kind in ("trust", "key"):  # no Resource in trust policies; "*" in a key policy = this key
            continue
        resources = _as_list(statement.get("Resource"))
        assert resources, f"{logical_id}: statement without Resource: {statement}"
        actions = set(_as_list(statement.get("Action")))
        if statement["Effect"] == "Deny":  # e.g. s3:* without TLS: the broader, the better
            continue
        assert not any(a == "*" or a.endswith(":*") for a in actions), f"{logical_id}: {actions}"
        if "*" in resources:
            assert actions <= NO_RESOURCE_TYPE_ACTIONS, f"{logical_id}: {actions} on '*'"
    assert seen > 20


def _role_actions(synth: Synth, role_path: str) -> dict[str, list[str]]:
    """action -> resources (rendered as JSON strings) across a role's inline and attached policies."""
    role_id = synth.logical_id("AWS::IAM::Role", role_path)
    granted: dict[str, list[str]] = {}
    for logical_id, kind, statement in _statements(synth):
        res = synth.resources[logical_id]
        attached = res["Type"] == "AWS::IAM::Policy" and any(
            _ref_id(r) == role_id for r in res["Properties"]["Roles"]
        )
        if kind != "identity" or (logical_id != role_id and not attached):
            continue
        for action in _as_list(statement["Action"]):
            granted.setdefault(action, []).extend(json.dumps(r) for r in _as_list(statement["Resource"]))
    return granted


def _prefixes(resources: list[str]) -> set[str]:
    return {r.split('"/')[-1].split('"')[0] for r in resources if "StorageData" in r and '"/' in r}


def test_submit_role_is_limited_to_its_prefixes_and_endpoint(synth: Synth) -> None:
    granted = _role_actions(synth, "SubmitWorker/Role/")
    assert _prefixes(granted["s3:GetObject"]) == {"audio/*", "transcripts/*", "failed/*"}
    inputs = {"async-input/uploads/*", "async-input/batches/*"}  # claims and copies, coalesced requests
    assert _prefixes(granted["s3:PutObject"]) == {"failed/*", *inputs}
    assert _prefixes(granted["s3:GetObjectVersion"]) == {"audio/*"}  # reads the version it checked
    assert _prefixes(granted["s3:DeleteObject"]) == inputs  # releases what it could not send
    assert granted["sagemaker:InvokeEndpointAsync"] == [
        json.dumps(
            {
                "Fn::Join": [
                    "",
                    ["arn:aws:sagemaker:us-east-1:", {"Ref": "AWS::AccountId"}, ":endpoint/twi-asr"],
                ]
            }
        )
    ]
    assert not any(a.startswith(("cloudwatch:", "sns:", "kms:")) for a in granted)


def test_complete_role_writes_only_results_and_emits_metrics_through_logs(synth: Synth) -> None:
    granted = _role_actions(synth, "CompleteWorker/Role/")
    assert _prefixes(granted["s3:GetObject"]) == {
        "async-input/uploads/*",
        "async-input/batches/*",
        "async-output/*",
        "async-failures/*",
        "audio/*",
        "transcripts/*",
        "failed/*",
    }
    # results; and audio/*: a coalesced request's members announced again, each to go alone
    assert _prefixes(granted["s3:PutObject"]) == {"transcripts/*", "failed/*", "audio/*"}
    assert "s3:GetObjectVersion" not in granted  # it copies the current version
    assert _prefixes(granted["s3:DeleteObject"]) == {
        "failed/*",
        "async-input/uploads/*",
        "async-input/batches/*",
    }
    assert not any(a.startswith(("cloudwatch:", "sagemaker:")) for a in granted)  # EMF: logs only
    assert set(granted["logs:PutLogEvents"]) == {
        json.dumps({"Fn::GetAtt": [synth.logical_id("AWS::Logs::LogGroup", "CompleteWorker/Logs/"), "Arn"]})
    }


def test_sagemaker_role_reads_inputs_writes_raw_results_publishes_and_pulls(synth: Synth) -> None:
    granted = _role_actions(synth, "Whisper/ExecutionRole/")
    assert {"audio/*", "async-input/*"} <= _prefixes(granted["s3:GetObject"])
    assert any("cdk-hnb659fds-assets" in r and r.endswith('.gz"]]}') for r in granted["s3:GetObject"])
    assert _prefixes(granted["s3:PutObject"]) == {"async-output/*", "async-failures/*"}
    topics = {
        json.dumps({"Ref": synth.logical_id("AWS::SNS::Topic", t)})
        for t in (names.SUCCESS_TOPIC, names.ERROR_TOPIC)
    }
    assert set(granted["sns:Publish"]) == topics
    assert granted["ecr:BatchGetImage"] == [
        json.dumps("arn:aws:ecr:us-east-1:763104351884:repository/huggingface-pytorch-inference")
    ]


# --- Monitoring, outputs ---------------------------------------------------------------------------


def test_dashboard_shows_backlog_age_rtf_failures_and_dlqs(synth: Synth) -> None:
    (dashboard,) = synth.of_type("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for metric in (
        "ApproximateBacklogSize",
        "ApproximateAgeOfOldestRequest",
        "HasBacklogWithoutCapacity",
        "InvocationFailures",
        "ApproximateNumberOfMessagesVisible",
        *names.METRIC_UNITS,
    ):
        assert f'\\"{metric}\\"' in body, metric
    assert '\\"p90\\"' in body and '\\"p50\\"' in body
    assert f'\\"{names.METRICS_NAMESPACE}\\"' in body


def test_alarms_notify_the_alarm_topic(synth: Synth) -> None:
    alarm_topic = synth.logical_id("AWS::SNS::Topic", "AlarmTopic/")
    alarms = {
        a["Properties"].get("MetricName"): a["Properties"]
        for a in synth.of_type("AWS::CloudWatch::Alarm").values()
    }
    rtf = alarms["RTF"]
    assert rtf["ExtendedStatistic"] == "p90" and rtf["Threshold"] == 0.5
    assert rtf["Namespace"] == names.METRICS_NAMESPACE
    assert alarms["ApproximateAgeOfOldestRequest"]["Threshold"] == 1800
    assert alarms["InvocationFailures"]["Threshold"] == 0
    assert alarms["Failures"]["Namespace"] == names.METRICS_NAMESPACE
    notified = [
        a
        for a in synth.of_type("AWS::CloudWatch::Alarm").values()
        if {"Ref": alarm_topic} in a["Properties"].get("AlarmActions", [])
    ]
    # RTF, oldest request, invocation failures, pipeline failures, unaccounted uploads, 2 DLQs,
    # 3 x Lambda errors/throttles
    assert len(notified) == 13
    synth.template.resource_properties_count_is("AWS::SNS::Subscription", {"Protocol": "email"}, 0)


def test_outputs(synth: Synth) -> None:
    outputs = synth.template.find_outputs("*")
    assert set(outputs) >= {OutputKeys.BUCKET_NAME, OutputKeys.ENDPOINT_NAME, OutputKeys.DASHBOARD_URL}
    assert outputs[OutputKeys.ENDPOINT_NAME]["Value"] == "twi-asr"
    assert _ref_id(outputs[OutputKeys.BUCKET_NAME]["Value"]) == synth.logical_id(
        "AWS::S3::Bucket", "Storage/Data/"
    )
    url = outputs[OutputKeys.DASHBOARD_URL]["Value"]
    assert url.startswith("https://us-east-1.console.aws.amazon.com/cloudwatch/")
    assert url.endswith("#dashboards:name=twi-asr-pipeline")
    synth.template.has_resource_properties(
        "AWS::CloudWatch::Dashboard", {"DashboardName": "twi-asr-pipeline"}
    )


def test_template_is_self_contained(synth: Synth) -> None:
    """No context lookups or account-specific values: synthesis needed no AWS credentials."""
    text = synth.template_file.read_text()
    assert "763104351884" in text  # the DLC registry is AWS's account, resolved offline
    assert not (synth.outdir / "cdk.context.json").exists()
    synth.template.has_resource("AWS::SageMaker::Endpoint", Match.any_value())
