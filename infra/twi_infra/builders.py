"""Pure builders for the SageMaker L1 properties: plain values in, CloudFormation shapes out.

Kept apart from the constructs so that each config (the async settings, the variant, the
scaling policies) can be checked on its own, without a stack. The container environment is in
``runtime_values``, which the local stack shares.
"""

from __future__ import annotations

from typing import Final

from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_sagemaker as sagemaker
from twi_lambdas import names

from twi_infra.config import ConfigError

# The Hugging Face PyTorch inference DLC our inference.py is tested against.
DLC_TRANSFORMERS_VERSION: Final = "4.51.3"
DLC_BASE_FRAMEWORK: Final = "pytorch2.6.0"
DLC_PY_VERSION: Final = "py312"
VARIANT_NAME: Final = "AllTraffic"
SCALABLE_DIMENSION: Final = "sagemaker:variant:DesiredInstanceCount"
BACKLOG_METRIC: Final = "ApproximateBacklogSizePerInstance"
BACKLOG_WITHOUT_CAPACITY_METRIC: Final = "HasBacklogWithoutCapacity"
SAGEMAKER_NAMESPACE: Final = "AWS/SageMaker"
# A cold GPU instance pulls a ~10 GB image, downloads the model and loads it onto the GPU;
# the 60 s/ 600 s defaults fail large checkpoints before they serve a single request.
STARTUP_HEALTH_CHECK_TIMEOUT_SECONDS: Final = 1800
MODEL_DATA_DOWNLOAD_TIMEOUT_SECONDS: Final = 1800
SCALE_OUT_COOLDOWN_SECONDS: Final = 300
SCALE_IN_COOLDOWN_SECONDS: Final = 600  # keep a warm GPU a while: cold starts cost minutes


def image_uri(region: str, instance_type: str) -> str:
    """The DLC image for ``region`` (GPU or CPU build by instance type), from SageMaker's own
    table: no hard-coded registry account, no network."""
    from sagemaker.core import image_uris

    try:
        return str(
            image_uris.retrieve(
                framework="huggingface",
                region=region,
                version=DLC_TRANSFORMERS_VERSION,
                base_framework_version=DLC_BASE_FRAMEWORK,
                image_scope="inference",
                instance_type=instance_type,
                py_version=DLC_PY_VERSION,
            )
        )
    except ValueError as exc:
        raise ConfigError(
            f"no Hugging Face PyTorch {DLC_BASE_FRAMEWORK} / transformers {DLC_TRANSFORMERS_VERSION} "
            f"inference image for region {region!r} and instance type {instance_type!r}: {exc}"
        ) from None


def container(
    *, image_uri: str, model_data_url: str, environment: dict[str, str]
) -> sagemaker.CfnModel.ContainerDefinitionProperty:
    return sagemaker.CfnModel.ContainerDefinitionProperty(
        image=image_uri, model_data_url=model_data_url, environment=environment, mode="SingleModel"
    )


def async_inference_config(
    *,
    bucket_name: str,
    success_topic_arn: str,
    error_topic_arn: str,
    max_concurrent_invocations_per_instance: int,
) -> sagemaker.CfnEndpointConfig.AsyncInferenceConfigProperty:
    """Raw results and failures under their own prefixes, every outcome announced on SNS."""
    return sagemaker.CfnEndpointConfig.AsyncInferenceConfigProperty(
        output_config=sagemaker.CfnEndpointConfig.AsyncInferenceOutputConfigProperty(
            s3_output_path=f"s3://{bucket_name}/{names.ASYNC_OUTPUT_PREFIX}",
            s3_failure_path=f"s3://{bucket_name}/{names.ASYNC_FAILURE_PREFIX}",
            notification_config=sagemaker.CfnEndpointConfig.AsyncInferenceNotificationConfigProperty(
                success_topic=success_topic_arn, error_topic=error_topic_arn
            ),
        ),
        client_config=sagemaker.CfnEndpointConfig.AsyncInferenceClientConfigProperty(
            max_concurrent_invocations_per_instance=max_concurrent_invocations_per_instance
        ),
    )


def production_variant(
    *, model_name: str, instance_type: str, initial_instance_count: int
) -> sagemaker.CfnEndpointConfig.ProductionVariantProperty:
    """One variant; scaling changes its instance count later (from 0 when idle)."""
    return sagemaker.CfnEndpointConfig.ProductionVariantProperty(
        variant_name=VARIANT_NAME,
        model_name=model_name,
        instance_type=instance_type,
        initial_instance_count=max(1, initial_instance_count),  # CloudFormation wants >= 1
        initial_variant_weight=1.0,
        container_startup_health_check_timeout_in_seconds=STARTUP_HEALTH_CHECK_TIMEOUT_SECONDS,
        model_data_download_timeout_in_seconds=MODEL_DATA_DOWNLOAD_TIMEOUT_SECONDS,
    )


def ecr_repository_arn(image_uri: str, partition: str = "aws") -> str:
    """``<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>`` -> the repository's ARN."""
    host, _, path = image_uri.partition("/")
    parts = host.split(".")
    if len(parts) < 6 or parts[1:3] != ["dkr", "ecr"] or not path:
        raise ValueError(f"not an ECR image URI: {image_uri!r}")
    repository = path.split("@")[0].rsplit(":", 1)[0]
    return f"arn:{partition}:ecr:{parts[3]}:{parts[0]}:repository/{repository}"


def scaling_resource_id(endpoint_name: str) -> str:
    return f"endpoint/{endpoint_name}/variant/{VARIANT_NAME}"


def backlog_target_tracking(
    *, endpoint_name: str, target_backlog_per_instance: float
) -> appscaling.CfnScalingPolicy.TargetTrackingScalingPolicyConfigurationProperty:
    """Scale between 1..N on queued requests per instance (async endpoints publish no Invocations*)."""
    return appscaling.CfnScalingPolicy.TargetTrackingScalingPolicyConfigurationProperty(
        target_value=target_backlog_per_instance,
        customized_metric_specification=appscaling.CfnScalingPolicy.CustomizedMetricSpecificationProperty(
            namespace=SAGEMAKER_NAMESPACE,
            metric_name=BACKLOG_METRIC,
            dimensions=[
                appscaling.CfnScalingPolicy.MetricDimensionProperty(name="EndpointName", value=endpoint_name)
            ],
            statistic="Average",
        ),
        scale_in_cooldown=SCALE_IN_COOLDOWN_SECONDS,
        scale_out_cooldown=SCALE_OUT_COOLDOWN_SECONDS,
    )


def leave_zero_step_scaling() -> appscaling.CfnScalingPolicy.StepScalingPolicyConfigurationProperty:
    """Add one instance when requests wait and none is running: target tracking cannot leave 0."""
    return appscaling.CfnScalingPolicy.StepScalingPolicyConfigurationProperty(
        adjustment_type="ChangeInCapacity",
        metric_aggregation_type="Average",
        cooldown=SCALE_OUT_COOLDOWN_SECONDS,
        step_adjustments=[
            appscaling.CfnScalingPolicy.StepAdjustmentProperty(
                metric_interval_lower_bound=0, scaling_adjustment=1
            )
        ],
    )
