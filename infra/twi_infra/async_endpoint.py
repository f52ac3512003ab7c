"""A SageMaker asynchronous inference endpoint as one reusable construct.

It owns what the endpoint needs and nothing else: the success and error topics it announces
results on, its execution role (reads inputs and model data, writes raw results, publishes),
the model, the endpoint config and the endpoint. The caller passes the bucket and reads back
``bucket``, ``role``, ``success_topic``, ``error_topic`` and ``endpoint_name`` to wire the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct
from twi_lambdas import names

from twi_infra import builders
from twi_infra.model_source import ModelData


@dataclass(frozen=True)
class AsyncEndpointProps:
    bucket: s3.IBucket
    topic_key: kms.IKey
    endpoint_name: str
    image_uri: str
    model_data: ModelData
    environment: dict[str, str]
    instance_type: str
    initial_instance_count: int
    max_concurrent_invocations_per_instance: int
    network_isolation: bool  # no network in the container: the archive must hold everything
    log_retention: logs.RetentionDays


class AsyncWhisperEndpoint(Construct):
    def __init__(self, scope: Construct, construct_id: str, props: AsyncEndpointProps) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.bucket = props.bucket
        self.endpoint_name = props.endpoint_name
        self.log_group_name = f"/aws/sagemaker/Endpoints/{props.endpoint_name}"  # SageMaker's choice
        # Created before the endpoint, so SageMaker writes into a group with a retention
        # instead of creating one that keeps every line forever.
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=self.log_group_name,
            retention=props.log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        # SageMaker lower-cases names in ARNs.
        self.endpoint_arn = stack.format_arn(
            service="sagemaker", resource="endpoint", resource_name=props.endpoint_name.lower()
        )
        self.success_topic = sns.Topic(
            self,
            names.SUCCESS_TOPIC,
            master_key=props.topic_key,
            enforce_ssl=True,
            display_name="Twi ASR: inference completed",
        )
        self.error_topic = sns.Topic(
            self,
            names.ERROR_TOPIC,
            master_key=props.topic_key,
            enforce_ssl=True,
            display_name="Twi ASR: inference failed",
        )
        self.role = iam.Role(
            self,
            "ExecutionRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"SageMaker endpoint {props.endpoint_name}: read inputs and model, write results",
            # Inline, so the permissions exist before CloudFormation creates the model.
            inline_policies={"endpoint": self._policy(stack, props)},
        )
        model = sagemaker.CfnModel(
            self,
            "Model",
            execution_role_arn=self.role.role_arn,
            enable_network_isolation=props.network_isolation,
            primary_container=builders.container(
                image_uri=props.image_uri, model_data_url=props.model_data.url, environment=props.environment
            ),
        )
        self.endpoint_config = sagemaker.CfnEndpointConfig(
            self,
            "EndpointConfig",
            production_variants=[
                builders.production_variant(
                    model_name=model.attr_model_name,
                    instance_type=props.instance_type,
                    initial_instance_count=props.initial_instance_count,
                )
            ],
            async_inference_config=builders.async_inference_config(
                bucket_name=props.bucket.bucket_name,
                success_topic_arn=self.success_topic.topic_arn,
                error_topic_arn=self.error_topic.topic_arn,
                max_concurrent_invocations_per_instance=props.max_concurrent_invocations_per_instance,
            ),
        )
        self.endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_name=props.endpoint_name,
            endpoint_config_name=self.endpoint_config.attr_endpoint_config_name,
            # A new config (model or settings changed) keeps the variant's current instance
            # count instead of resetting it to the initial one: no GPU started while scaled to
            # zero, no capacity dropped under load.
            retain_all_variant_properties=True,
        )
        self.endpoint.node.add_dependency(self.log_group)

    def _policy(self, stack: Stack, props: AsyncEndpointProps) -> iam.PolicyDocument:
        bucket = props.bucket
        log_group_arn = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=self.log_group_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        return iam.PolicyDocument(
            statements=[
                iam.PolicyStatement(
                    sid="ReadInputs",
                    actions=["s3:GetObject"],
                    resources=[
                        bucket.arn_for_objects(f"{names.AUDIO_PREFIX}*"),
                        bucket.arn_for_objects(f"{names.ASYNC_INPUT_PREFIX}*"),
                    ],
                ),
                iam.PolicyStatement(
                    sid="ReadModel", actions=["s3:GetObject"], resources=[props.model_data.object_arn]
                ),
                iam.PolicyStatement(
                    sid="WriteResults",
                    actions=["s3:PutObject"],
                    resources=[
                        bucket.arn_for_objects(f"{names.ASYNC_OUTPUT_PREFIX}*"),
                        bucket.arn_for_objects(f"{names.ASYNC_FAILURE_PREFIX}*"),
                    ],
                ),
                iam.PolicyStatement(
                    sid="Notify",
                    actions=["sns:Publish"],
                    resources=[self.success_topic.topic_arn, self.error_topic.topic_arn],
                ),
                iam.PolicyStatement(
                    sid="EncryptNotifications",
                    actions=["kms:GenerateDataKey", "kms:Decrypt"],
                    resources=[props.topic_key.key_arn],
                ),
                iam.PolicyStatement(
                    sid="PullImage",
                    actions=[
                        "ecr:BatchGetImage",
                        "ecr:GetDownloadUrlForLayer",
                        "ecr:BatchCheckLayerAvailability",
                    ],
                    resources=[builders.ecr_repository_arn(props.image_uri, stack.partition)],
                ),
                iam.PolicyStatement(
                    sid="EcrLogin",  # GetAuthorizationToken has no resource type: "*" is the only form
                    actions=["ecr:GetAuthorizationToken"],
                    resources=["*"],
                ),
                iam.PolicyStatement(
                    sid="Logs",
                    actions=[
                        "logs:CreateLogGroup",
                        "logs:CreateLogStream",
                        "logs:PutLogEvents",
                        "logs:DescribeLogStreams",
                    ],
                    resources=[log_group_arn, f"{log_group_arn}:log-stream:*"],
                ),
            ]
        )
