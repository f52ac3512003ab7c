"""An SQS queue with its dead-letter queue and an alarm on the dead letters."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from twi_lambdas import names

QUEUE_RETENTION = Duration.days(4)
DLQ_RETENTION = Duration.days(14)  # the maximum: time to notice, fix and redrive
VISIBILITY_TIMEOUT_FACTOR = 6  # AWS's advice for Lambda event sources: 6 x the function timeout


class QueueWithDlq(Construct):
    """A work queue whose poison messages land in a DLQ after ``names.MAX_RECEIVE_COUNT`` tries.

    Both use SQS-managed encryption: S3 event notifications and SNS subscriptions can deliver
    to it without a key policy, which a customer key would need for each service.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, queue_id: str, dlq_id: str, consumer_timeout: Duration
    ) -> None:
        super().__init__(scope, construct_id)
        self.dlq = sqs.Queue(
            self,
            dlq_id,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DLQ_RETENTION,
        )
        self.queue = sqs.Queue(
            self,
            queue_id,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=QUEUE_RETENTION,
            visibility_timeout=Duration.seconds(consumer_timeout.to_seconds() * VISIBILITY_TIMEOUT_FACTOR),
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=names.MAX_RECEIVE_COUNT, queue=self.dlq),
        )
        self.dlq_depth = self.dlq.metric_approximate_number_of_messages_visible(
            period=Duration.minutes(1), statistic=cw.Stats.MAXIMUM
        )
        self.dlq_alarm = cw.Alarm(
            self,
            "DlqNotEmpty",
            alarm_description=f"{dlq_id} holds messages that failed {names.MAX_RECEIVE_COUNT} times: "
            "inspect them, fix the cause, then redrive",
            metric=self.dlq_depth,
            threshold=0,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
