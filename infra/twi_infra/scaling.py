"""Scale the async endpoint between 0 and N instances on its request backlog.

Two policies, because target tracking alone never leaves zero (with no instance there is no
per-instance backlog to track): target tracking on ``ApproximateBacklogSizePerInstance`` for
1..N and back down to 0, and a step policy fired by an alarm on ``HasBacklogWithoutCapacity``
that adds the first instance.
"""

from __future__ import annotations

import jsii
from aws_cdk import Duration
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cw
from constructs import Construct

from twi_infra import builders


@jsii.implements(cw.IAlarmAction)
class _ScalingPolicyAction:
    """Lets a CloudWatch alarm fire an L1 scaling policy (the L2 action wants an L2 policy)."""

    def __init__(self, policy_arn: str) -> None:
        self._arn = policy_arn

    def bind(self, _scope: Construct, _alarm: cw.IAlarm) -> cw.AlarmActionConfig:
        return cw.AlarmActionConfig(alarm_action_arn=self._arn)


class BacklogScaling(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        min_instances: int,
        max_instances: int,
        target_backlog_per_instance: float,
    ) -> None:
        super().__init__(scope, construct_id)
        self.target = appscaling.CfnScalableTarget(
            self,
            "Target",
            service_namespace="sagemaker",
            resource_id=builders.scaling_resource_id(endpoint_name),
            scalable_dimension=builders.SCALABLE_DIMENSION,
            min_capacity=min_instances,
            max_capacity=max_instances,
        )
        self.backlog_policy = appscaling.CfnScalingPolicy(
            self,
            "BacklogTargetTracking",
            policy_name=f"{endpoint_name}-backlog-per-instance",
            policy_type="TargetTrackingScaling",
            scaling_target_id=self.target.ref,
            target_tracking_scaling_policy_configuration=builders.backlog_target_tracking(
                endpoint_name=endpoint_name, target_backlog_per_instance=target_backlog_per_instance
            ),
        )
        self.leave_zero_policy = appscaling.CfnScalingPolicy(
            self,
            "LeaveZeroStepScaling",
            policy_name=f"{endpoint_name}-has-backlog-without-capacity",
            policy_type="StepScaling",
            scaling_target_id=self.target.ref,
            step_scaling_policy_configuration=builders.leave_zero_step_scaling(),
        )
        self.backlog_without_capacity = cw.Metric(
            namespace=builders.SAGEMAKER_NAMESPACE,
            metric_name=builders.BACKLOG_WITHOUT_CAPACITY_METRIC,
            dimensions_map={"EndpointName": endpoint_name},
            statistic=cw.Stats.AVERAGE,
            period=Duration.minutes(1),
        )
        self.leave_zero_alarm = cw.Alarm(
            self,
            "HasBacklogWithoutCapacity",
            alarm_description="Requests wait and no instance runs: start one (scale out from zero)",
            metric=self.backlog_without_capacity,
            threshold=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=2,
            datapoints_to_alarm=2,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        self.leave_zero_alarm.add_alarm_action(_ScalingPolicyAction(self.leave_zero_policy.ref))
