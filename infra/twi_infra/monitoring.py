"""Dashboard and alarms: is the endpoint keeping up, is anything failing, is anything stuck.

RTF and the other pipeline numbers come from the Lambdas as CloudWatch embedded metric
format (EMF) log lines in ``names.METRICS_NAMESPACE``, named in ``names.METRIC_UNITS``; the
backlog numbers come from SageMaker itself (async endpoints publish no ``Invocations*`` metrics).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from constructs import Construct
from twi_lambdas import names

from twi_infra import builders

PERIOD = Duration.minutes(5)


@dataclass(frozen=True)
class MonitoringProps:
    endpoint_name: str
    topic_key: kms.IKey
    dlq_depths: dict[str, cw.IMetric]  # DLQ logical name -> depth metric
    dlq_alarms: Sequence[cw.Alarm]
    functions: dict[str, lambda_.IFunction]  # worker name -> function (errors, throttles)
    rtf_p90_threshold: float
    oldest_request_seconds: int
    alarm_email: str | None


class Monitoring(Construct):
    def __init__(self, scope: Construct, construct_id: str, props: MonitoringProps) -> None:
        super().__init__(scope, construct_id)
        self.alarm_topic = sns.Topic(
            self, "AlarmTopic", master_key=props.topic_key, enforce_ssl=True, display_name="Twi ASR alarms"
        )
        self._let_cloudwatch_publish(self.alarm_topic)
        if props.alarm_email:
            self.alarm_topic.add_subscription(subs.EmailSubscription(props.alarm_email))
        endpoint_dims = {"EndpointName": props.endpoint_name}
        variant_dims = {**endpoint_dims, "VariantName": builders.VARIANT_NAME}

        def sagemaker_metric(name: str, stat: str, dims: dict[str, str] = endpoint_dims) -> cw.Metric:
            return cw.Metric(
                namespace=builders.SAGEMAKER_NAMESPACE,
                metric_name=name,
                dimensions_map=dims,
                statistic=stat,
                period=Duration.minutes(1),
            )

        def pipeline_metric(name: str, stat: str) -> cw.Metric:
            return cw.Metric(
                namespace=names.METRICS_NAMESPACE,
                metric_name=name,
                dimensions_map=endpoint_dims,
                statistic=stat,
                period=PERIOD,
            )

        backlog = sagemaker_metric("ApproximateBacklogSize", cw.Stats.AVERAGE)
        backlog_per_instance = sagemaker_metric(builders.BACKLOG_METRIC, cw.Stats.AVERAGE)
        without_capacity = sagemaker_metric(builders.BACKLOG_WITHOUT_CAPACITY_METRIC, cw.Stats.MAXIMUM)
        oldest = sagemaker_metric("ApproximateAgeOfOldestRequest", cw.Stats.MAXIMUM)
        invocation_failures = sagemaker_metric("InvocationFailures", cw.Stats.SUM, variant_dims)
        rtf_p50 = pipeline_metric(names.METRIC_RTF, cw.Stats.p(50))
        rtf_p90 = pipeline_metric(names.METRIC_RTF, cw.Stats.p(90))
        failures = pipeline_metric(names.METRIC_FAILURES, cw.Stats.SUM)

        self.alarms: list[cw.Alarm] = [
            cw.Alarm(
                self,
                "RtfOverload",
                alarm_description=f"p90 real-time factor above {props.rtf_p90_threshold}: the endpoint is "
                "overloaded or on a slower device than planned",
                metric=rtf_p90,
                threshold=props.rtf_p90_threshold,
                evaluation_periods=3,
                datapoints_to_alarm=2,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            ),
            cw.Alarm(
                self,
                "OldestRequestTooOld",
                alarm_description=f"a request has waited over {props.oldest_request_seconds} s: scaling is "
                "stuck or the maximum instance count is too low",
                metric=oldest,
                threshold=props.oldest_request_seconds,
                evaluation_periods=3,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            ),
            cw.Alarm(
                self,
                "InvocationFailures",
                alarm_description="the endpoint failed requests (see the error topic and async-failures/)",
                metric=invocation_failures,
                threshold=0,
                evaluation_periods=1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            ),
            cw.Alarm(
                self,
                "PipelineFailures",
                alarm_description="uploads ended in failed/ (unreadable audio, endpoint errors)",
                metric=failures,
                threshold=0,
                evaluation_periods=1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            ),
            cw.Alarm(
                self,
                "UploadsUnaccounted",
                alarm_description="the reconciler found uploads with no outcome past the grace: a "
                "notification was lost (queue policy, KMS, an expired request); it announces each "
                "again once, then writes failed/",
                metric=pipeline_metric(names.METRIC_UNACCOUNTED, cw.Stats.SUM),
                threshold=0,
                evaluation_periods=1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            ),
        ]
        self.alarms += [
            alarm for name, fn in props.functions.items() for alarm in _function_alarms(self, name, fn)
        ]
        action = cw_actions.SnsAction(self.alarm_topic)
        for alarm in [*self.alarms, *props.dlq_alarms]:
            alarm.add_alarm_action(action)

        self.dashboard_name = f"{props.endpoint_name}-pipeline"
        self.dashboard = cw.Dashboard(
            self, "Dashboard", dashboard_name=self.dashboard_name, default_interval=Duration.hours(3)
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Backlog (requests)",
                left=[backlog, backlog_per_instance],
                right=[without_capacity],
                width=8,
            ),
            cw.GraphWidget(title="Age of oldest request (s)", left=[oldest], width=8),
            cw.GraphWidget(title="Real-time factor (processing / audio)", left=[rtf_p50, rtf_p90], width=8),
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Seconds per recording",
                left=[
                    pipeline_metric(m, cw.Stats.p(90))
                    for m in (
                        names.METRIC_PROCESSING_SECONDS,
                        names.METRIC_QUEUE_SECONDS,
                        names.METRIC_END_TO_END_SECONDS,
                    )
                ],
                right=[pipeline_metric(names.METRIC_AUDIO_SECONDS, cw.Stats.SUM)],
                width=8,
            ),
            cw.GraphWidget(
                title="Recordings",
                left=[
                    pipeline_metric(m, cw.Stats.SUM)
                    for m in (names.METRIC_SUBMITTED, names.METRIC_COALESCED, names.METRIC_TRANSCRIPTS)
                ],
                right=[
                    failures,
                    *(
                        pipeline_metric(m, cw.Stats.SUM)
                        for m in (
                            names.METRIC_REJECTED,
                            names.METRIC_KEY_TOO_LONG,
                            names.METRIC_UNACCOUNTED,
                            names.METRIC_RESUBMITTED,
                        )
                    ),
                    invocation_failures,
                ],
                width=8,
            ),
            cw.GraphWidget(
                title="Dead-letter queues (messages)", left=list(props.dlq_depths.values()), width=8
            ),
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Speech left without text (s; metadata.uncovered_speech) of speech found (s)",
                left=[pipeline_metric(names.METRIC_UNCOVERED_SPEECH_SECONDS, cw.Stats.SUM)],
                right=[pipeline_metric(names.METRIC_SPEECH_SECONDS, cw.Stats.SUM)],
                width=24,
            )
        )
        self.dashboard.add_widgets(
            cw.AlarmStatusWidget(title="Alarms", alarms=[*self.alarms, *props.dlq_alarms], width=24)
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Lambda errors and throttles",
                left=[fn.metric_errors(period=PERIOD) for fn in props.functions.values()],
                right=[fn.metric_throttles(period=PERIOD) for fn in props.functions.values()],
                width=24,
            )
        )
        region = Stack.of(self).region
        self.dashboard_url = (
            f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
            f"#dashboards:name={self.dashboard_name}"
        )

    @staticmethod
    def _let_cloudwatch_publish(topic: sns.Topic) -> None:
        """A topic policy replaces SNS's default one, which let the account's services publish:
        without this statement every alarm fires into nothing. Only this account's alarms may."""
        stack = Stack.of(topic)
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": stack.format_arn(
                            service="cloudwatch",
                            resource="alarm",
                            resource_name="*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    },
                },
            )
        )


def _function_alarms(scope: Construct, name: str, function: lambda_.IFunction) -> list[cw.Alarm]:
    """A function that errors or is throttled leaves messages to retry and, in the end, the DLQ:
    say so at the first one, before the DLQ alarm."""
    return [
        cw.Alarm(
            scope,
            f"{name}{kind}",
            alarm_description=f"the {name} Lambda {what}: see its log group (Powertools JSON lines)",
            metric=metric,
            threshold=0,
            evaluation_periods=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        for kind, what, metric in (
            (
                "Errors",
                "failed invocations (an exception escaped the batch)",
                function.metric_errors(period=PERIOD),
            ),
            (
                "Throttles",
                "was throttled (account or reserved concurrency reached)",
                function.metric_throttles(period=PERIOD),
            ),
        )
    ]
