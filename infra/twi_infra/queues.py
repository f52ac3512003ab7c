"""An SQS queue with its dead-letter queue and an alarm on the dead letters."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from twi_lambdas import names

from twi_infra.runtime_values import DLQ_RETENTION_S, QUEUE_RETENTION_S, Worker


class QueueWithDlq(Construct):
    """A work queue whose poison messages land in a DLQ after ``names.MAX_RECEIVE_COUNT`` tries.

    Both use SQS-managed encryption: S3 event notifications and SNS subscriptions can deliver
    to it without a key policy, which a customer key would need for each service.
    """

    def __init__(self, scope: Construct, construct_id: str, *, consumer: Worker) -> None:
        super().__init__(scope, construct_id)
        self.dlq = sqs.Queue(
            self,
            consumer.dlq,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.seconds(DLQ_RETENTION_S),
        )
        self.queue = sqs.Queue(
            self,
            consumer.queue,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.seconds(QUEUE_RETENTION_S),
            visibility_timeout=Duration.seconds(consumer.visibility_timeout_s),
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=names.MAX_RECEIVE_COUNT, queue=self.dlq),
        )
        self.dlq_depth = self.dlq.metric_approximate_number_of_messages_visible(
            period=Duration.minutes(1), statistic=cw.Stats.MAXIMUM
        )
        self.dlq_alarm = cw.Alarm(
            self,
            "DlqNotEmpty",
            alarm_description=f"{consumer.dlq} holds messages that failed {names.MAX_RECEIVE_COUNT} times: "
            "inspect them, fix the cause, then redrive",
            metric=self.dlq_depth,
            threshold=0,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )

    def accept_only_from_account(self, service: str, account: str) -> None:
        """Refuse ``service``'s messages sent on behalf of another account.

        CDK's statement for S3 notifications checks only ``aws:SourceArn``, and a bucket ARN
        names no account: a bucket of the same name in another account (after ours is deleted)
        could fill the queue. AWS's confused-deputy advice is to check ``aws:SourceAccount`` too.
        """
        self.queue.add_to_resource_policy(
            iam.PolicyStatement(
                sid="OnlyThisAccount",
                effect=iam.Effect.DENY,
                principals=[iam.ServicePrincipal(service)],
                actions=["sqs:SendMessage"],
                resources=[self.queue.queue_arn],
                conditions={"StringNotEquals": {"aws:SourceAccount": account}},
            )
        )
