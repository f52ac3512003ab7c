"""What a team running the stack in production relies on without seeing it: alarms that reach
someone, deploys that keep capacity, logs that expire, nothing delivered into the void."""

from __future__ import annotations

from typing import Any

import pytest
from cdk_synth import Synth
from twi_infra.config import ConfigError, StackSettings
from twi_infra.runtime_values import DAY_S, RECONCILE
from twi_lambdas import names


def _statements(synth: Synth, policy_type: str, target_key: str, target_id: str) -> list[dict[str, Any]]:
    """The statements of the ``policy_type`` resources that apply to ``target_id``."""
    found = []
    for policy in synth.of_type(policy_type).values():
        targets = policy["Properties"][target_key]
        if {"Ref": target_id} in targets:
            found += policy["Properties"]["PolicyDocument"]["Statement"]
    return found


def test_cloudwatch_may_publish_to_the_alarm_topic(synth: Synth) -> None:
    """A topic policy replaces SNS's default: without an Allow for CloudWatch no alarm is delivered."""
    topic = synth.logical_id("AWS::SNS::Topic", "AlarmTopic/")
    (allow,) = [
        s
        for s in _statements(synth, "AWS::SNS::TopicPolicy", "Topics", topic)
        if s["Effect"] == "Allow" and s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert allow["Action"] == "sns:Publish" and allow["Resource"] == {"Ref": topic}
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    arn = allow["Condition"]["ArnLike"]["aws:SourceArn"]
    assert ":cloudwatch:" in str(arn) and str(arn).rstrip("\"']}").endswith(":alarm:*")


def test_lambda_errors_and_throttles_raise_alarms(synth: Synth) -> None:
    topic = synth.logical_id("AWS::SNS::Topic", "AlarmTopic/")
    for function in ("SubmitWorker", "CompleteWorker", "ReconcileWorker"):
        fn = synth.logical_id("AWS::Lambda::Function", f"{function}/Function/")
        watched = {
            a["Properties"]["MetricName"]
            for a in synth.of_type("AWS::CloudWatch::Alarm").values()
            if a["Properties"].get("Namespace") == "AWS/Lambda"
            and a["Properties"]["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": fn}}]
            and {"Ref": topic} in a["Properties"]["AlarmActions"]
        }
        assert watched == {"Errors", "Throttles"}, function


def test_a_deploy_keeps_the_variant_capacity(synth: Synth) -> None:
    (endpoint,) = synth.of_type("AWS::SageMaker::Endpoint").values()
    assert endpoint["Properties"]["RetainAllVariantProperties"] is True


def test_the_endpoint_log_group_is_the_stacks_and_expires(synth: Synth) -> None:
    (group_id,) = [
        lid
        for lid, g in synth.of_type("AWS::Logs::LogGroup").items()
        if g["Properties"].get("LogGroupName") == "/aws/sagemaker/Endpoints/twi-asr"
    ]
    assert synth.resources[group_id]["Properties"]["RetentionInDays"] == 30
    (endpoint,) = synth.of_type("AWS::SageMaker::Endpoint").values()
    assert group_id in endpoint["DependsOn"]  # created before SageMaker would create its own


def test_notifications_sns_cannot_deliver_land_in_the_result_dlq(synth: Synth) -> None:
    dlq = synth.logical_id("AWS::SQS::Queue", names.RESULT_DLQ)
    subscriptions = [
        s["Properties"]
        for s in synth.of_type("AWS::SNS::Subscription").values()
        if s["Properties"]["Protocol"] == "sqs"
    ]
    assert len(subscriptions) == 2
    for sub in subscriptions:
        assert sub["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": [dlq, "Arn"]}}
    sns_may_send = [
        s
        for s in _statements(synth, "AWS::SQS::QueuePolicy", "Queues", dlq)
        if s["Effect"] == "Allow" and s.get("Principal") == {"Service": "sns.amazonaws.com"}
    ]
    assert len(sns_may_send) == 2  # one per topic, each with its aws:SourceArn


def test_raw_results_outlive_the_dlq_messages_that_point_to_them(synth: Synth) -> None:
    data = synth.resources[synth.logical_id("AWS::S3::Bucket", "Storage/Data/")]["Properties"]
    expiry = {r.get("Prefix"): r.get("ExpirationInDays") for r in data["LifecycleConfiguration"]["Rules"]}
    dlq_retention = max(
        int(synth.resources[synth.logical_id("AWS::SQS::Queue", q)]["Properties"]["MessageRetentionPeriod"])
        for q in (names.SUBMIT_DLQ, names.RESULT_DLQ)
    )
    for prefix in (names.ASYNC_OUTPUT_PREFIX, names.ASYNC_FAILURE_PREFIX):
        assert expiry[prefix] * DAY_S >= dlq_retention


def test_a_shorter_output_expiry_than_the_dlq_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"async_output_expiry_days=7 .* between 14 \(the result DLQ"):
        StackSettings(async_output_expiry_days=7)


def test_every_event_source_has_a_maximum_concurrency(synth: Synth) -> None:
    mappings = synth.of_type("AWS::Lambda::EventSourceMapping").values()
    assert len(mappings) == 2
    assert all(2 <= m["Properties"]["ScalingConfig"]["MaximumConcurrency"] <= 1000 for m in mappings)


def test_the_upload_queue_refuses_s3_events_of_other_accounts(synth: Synth) -> None:
    queue = synth.logical_id("AWS::SQS::Queue", names.SUBMIT_QUEUE)
    statements = _statements(synth, "AWS::SQS::QueuePolicy", "Queues", queue)
    (deny,) = [
        s
        for s in statements
        if s["Effect"] == "Deny" and s.get("Principal") == {"Service": "s3.amazonaws.com"}
    ]
    assert deny["Condition"] == {"StringNotEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    assert any(s["Effect"] == "Allow" and "aws:SourceArn" in str(s.get("Condition")) for s in statements)


def test_a_hub_model_is_not_isolated_and_can_be_pinned(synth: Synth, synth_app: Any) -> None:
    (model,) = synth.of_type("AWS::SageMaker::Model").values()
    assert model["Properties"]["EnableNetworkIsolation"] is False  # the container downloads the weights
    pinned = synth_app("pinned", {"hf_model_id": "openai/whisper-small", "hf_model_revision": "973afd24965f"})
    (model,) = pinned.of_type("AWS::SageMaker::Model").values()
    env = model["Properties"]["PrimaryContainer"]["Environment"]
    assert (env["HF_MODEL_ID"], env["HF_MODEL_REVISION"]) == ("openai/whisper-small", "973afd24965f")


def test_network_isolation_needs_the_weights_in_the_archive() -> None:
    assert StackSettings(model_data="s3://models-1/whisper/model.tar.gz").effective_network_isolation
    assert not StackSettings().effective_network_isolation
    with pytest.raises(ConfigError, match=r"network_isolation=True .* false with a Hugging Face model"):
        StackSettings(network_isolation=True)
    with pytest.raises(ConfigError, match=r"hf_model_revision=.* only with a Hub model"):
        StackSettings(model_data="s3://models-1/whisper/model.tar.gz", hf_model_revision="abc123")


def test_autoscaling_can_be_left_out_to_change_the_instance_type(synth_app: Any) -> None:
    """Step one of README's "change the instance type": a variant registered for scaling refuses it."""
    plain = synth_app("no-scaling", {"autoscaling": "false"})
    assert plain.of_type("AWS::ApplicationAutoScaling::ScalableTarget") == {}
    assert plain.of_type("AWS::SageMaker::Endpoint")
    assert plain.validation_report()["pluginReports"][0]["violations"] == []


def test_the_reconciler_runs_on_a_schedule_and_its_finding_raises_an_alarm(synth: Synth) -> None:
    fn = synth.logical_id("AWS::Lambda::Function", "ReconcileWorker/Function/")
    (rule,) = synth.of_type("AWS::Events::Rule").values()
    assert rule["Properties"]["ScheduleExpression"] == f"rate({RECONCILE.every_minutes} minutes)"
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [fn, "Arn"]}
    env = synth.resources[fn]["Properties"]["Environment"]["Variables"]
    assert env[names.ENV_BUCKET_NAME] and env[names.ENV_ENDPOINT_NAME] == "twi-asr"
    unaccounted = [
        a["Properties"]
        for a in synth.of_type("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == names.METRIC_UNACCOUNTED
    ]
    assert len(unaccounted) == 1 and unaccounted[0]["Threshold"] == 0
