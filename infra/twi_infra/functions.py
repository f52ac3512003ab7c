"""The two Lambda functions (submit, complete): each with its own log group, role and SQS source.

Roles are written out statement by statement instead of with ``grant*`` helpers, which
would hand out whole buckets; the managed basic-execution policy would allow every log group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

LAMBDA_ASSET_DIR = Path(__file__).resolve().parent.parent / "lambdas"  # twi_lambdas/, stdlib + boto3
RUNTIME = lambda_.Runtime.PYTHON_3_12
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
MAX_BATCHING_WINDOW = Duration.seconds(2)


@dataclass(frozen=True)
class WorkerProps:
    handler: str  # "twi_lambdas.submit.handler"
    description: str
    queue: sqs.IQueue
    batch_size: int
    timeout: Duration
    environment: dict[str, str]
    statements: list[iam.PolicyStatement] = field(default_factory=list)
    memory_mb: int = 256


class QueueWorker(Construct):
    """A Lambda function fed by an SQS queue, reporting partial batch failures."""

    def __init__(self, scope: Construct, construct_id: str, props: WorkerProps) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self, "Logs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=props.description,
            inline_policies={
                "work": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(
                            sid="Logs",
                            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                            resources=[self.log_group.log_group_arn],
                        ),
                        *props.statements,
                    ]
                )
            },
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=props.handler,
            code=lambda_.Code.from_asset(
                str(LAMBDA_ASSET_DIR), exclude=["**/__pycache__", "**/*.pyc", "**/.mypy_cache"]
            ),
            description=props.description,
            timeout=props.timeout,
            memory_size=props.memory_mb,
            environment=props.environment,
            role=self.role,
            log_group=self.log_group,
        )
        self.function.add_event_source(
            sources.SqsEventSource(
                props.queue,
                batch_size=props.batch_size,
                max_batching_window=MAX_BATCHING_WINDOW,
                report_batch_item_failures=True,
            )
        )
