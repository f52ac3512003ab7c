"""The two Lambda functions (submit, complete): each with its own log group, role and SQS source.

Roles are written out statement by statement instead of with ``grant*`` helpers, which
would hand out whole buckets; the managed basic-execution policy would allow every log group.
Powertools comes from the AWS-managed layer, pinned to the version the tests run with. The
code is ``infra/lambdas/`` plus the endpoint contract (``twi_contract.py``) beside
``twi_lambdas/``, staged by CDK bundling done locally in this process: a copy, no Docker.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, Duration, ILocalBundling, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from twi_infra import nag
from twi_infra.paths import CONTRACT_FILE, LAMBDA_SOURCE_DIR
from twi_infra.runtime_values import Scheduled, Worker

NOT_SHIPPED = ("__pycache__", "*.pyc", ".mypy_cache")
RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64
POWERTOOLS_VERSION = "3.37.0"  # = aws-lambda-powertools in pyproject.toml (a test checks)
# AWS's public parameter holding the layer ARN of that version, resolved in the deploy region
POWERTOOLS_LAYER_PARAMETER = (
    f"/aws/service/powertools/python/{ARCHITECTURE.name}/{RUNTIME.name}/{POWERTOOLS_VERSION}"
)
LOG_RETENTION = logs.RetentionDays.ONE_MONTH


def stage_lambda_code(out_dir: Path) -> Path:
    """Write the Lambda asset into ``out_dir``: ``infra/lambdas/`` with ``twi_contract.py``
    at its root, where ``import twi_contract`` finds it in the Lambda runtime."""
    shutil.copytree(
        LAMBDA_SOURCE_DIR, out_dir, ignore=shutil.ignore_patterns(*NOT_SHIPPED), dirs_exist_ok=True
    )
    shutil.copyfile(CONTRACT_FILE, out_dir / CONTRACT_FILE.name)
    return out_dir


@jsii.implements(ILocalBundling)
class _LocalStaging:
    """CDK calls this before it would try Docker; it always succeeds, so Docker is never needed."""

    def try_bundle(self, output_dir: str, *, image: DockerImage, **options: Any) -> bool:
        stage_lambda_code(Path(output_dir))
        return True


def lambda_code() -> lambda_.Code:
    """The functions' code. Hashed by its output, so a change to the contract alone changes it."""
    return lambda_.Code.from_asset(
        str(LAMBDA_SOURCE_DIR),
        asset_hash_type=AssetHashType.OUTPUT,
        bundling=BundlingOptions(image=RUNTIME.bundling_image, local=_LocalStaging()),
        exclude=[f"**/{pattern}" for pattern in NOT_SHIPPED],
    )


@dataclass(frozen=True)
class WorkerProps:
    worker: Worker | Scheduled  # handler, timeout, memory (and for a queue, batch size)
    description: str
    queue: sqs.IQueue | None  # None: invoked otherwise (a schedule)
    environment: dict[str, str]
    statements: list[iam.PolicyStatement] = field(default_factory=list)


class QueueWorker(Construct):
    """A Lambda function fed by an SQS queue, reporting partial batch failures (or, without a
    queue, one that something else invokes)."""

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
            architecture=ARCHITECTURE,
            layers=[
                lambda_.LayerVersion.from_layer_version_arn(
                    self,
                    "Powertools",
                    ssm.StringParameter.value_for_string_parameter(self, POWERTOOLS_LAYER_PARAMETER),
                )
            ],
            tracing=lambda_.Tracing.ACTIVE,  # CDK grants xray:PutTraceSegments/PutTelemetryRecords
            handler=props.worker.handler,
            code=lambda_code(),
            description=props.description,
            timeout=Duration.seconds(props.worker.timeout_s),
            memory_size=props.worker.memory_mb,
            environment=props.environment,
            role=self.role,
            log_group=self.log_group,
        )
        if props.queue is not None and isinstance(props.worker, Worker):
            self.function.add_event_source(
                sources.SqsEventSource(
                    props.queue,
                    batch_size=props.worker.batch_size,
                    max_batching_window=Duration.seconds(props.worker.batching_window_s),
                    report_batch_item_failures=True,
                    max_concurrency=props.worker.max_concurrency,
                )
            )
        nag.acknowledge(
            self.role,
            nag.rule("IAM5", "Resource::*"),
            "X-Ray's PutTraceSegments and PutTelemetryRecords have no resource type in IAM: '*' "
            "is the only valid resource for active tracing",
        )
