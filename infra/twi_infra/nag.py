"""cdk-nag (AwsSolutions) acknowledgements: each finding we accept, with the reason in words.

cdk-nag 3 acknowledges one finding at a time (``RuleId[Finding]``), so a new wildcard or a
new construct fails synthesis until someone writes down why it is acceptable.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aws_cdk import Acknowledgment, Stack, Token, Validations
from aws_cdk import aws_s3 as s3
from constructs import IConstruct

PACK = "AwsSolutions"


def rule(rule_id: str, finding: str | None = None) -> str:
    """The id cdk-nag 3 reports, e.g. ``AwsSolutions::AwsSolutions-IAM5[Resource::*]``."""
    return f"{PACK}::{PACK}-{rule_id}" + (f"[{finding}]" if finding else "")


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason))


@dataclass(frozen=True)
class PrefixGrant:
    """A role granted object access under key prefixes of the stack's bucket."""

    role: IConstruct
    prefixes: Iterable[str]


def acknowledge_prefix_wildcards(bucket: s3.Bucket, grants: Iterable[PrefixGrant]) -> None:
    """``<bucket>/<prefix>*`` is a wildcard to cdk-nag, but it is the narrowest form there is:
    object keys are chosen by users (audio) or by SageMaker (UUIDs), so no statement can name
    them. (Both Lambda roles may also list the bucket: without ``s3:ListBucket`` a missing key
    answers 403, not 404; see ``stack._list_bucket``.)"""
    stack = Stack.of(bucket)
    logical_id = stack.resolve(stack.get_logical_id(bucket.node.default_child))  # type: ignore[arg-type]
    for grant in grants:
        for prefix in sorted(set(grant.prefixes)):
            acknowledge(
                grant.role,
                rule("IAM5", f"Resource::<{logical_id}.Arn>/{prefix}*"),
                f"object access limited to the {prefix} prefix of the stack's own bucket; the keys "
                "below it are chosen at run time (user uploads, SageMaker UUIDs)",
            )


def acknowledge_lambda_runtime(function: IConstruct) -> None:
    acknowledge(
        function,
        rule("L1"),
        "Python 3.12 on purpose: the same Python as the SageMaker DLC (py312) and the version "
        "the handlers are tested with; bump both together",
    )


def _literal(value: str, pseudo: str) -> str:
    """How cdk-nag prints a pseudo parameter: the value when known at synth, else ``<AWS::...>``."""
    return pseudo if Token.is_unresolved(value) else value


def acknowledge_sagemaker_role(role: IConstruct, log_group_name: str) -> None:
    stack = Stack.of(role)
    log_group_arn = (
        f"arn:{_literal(stack.partition, '<AWS::Partition>')}:logs:{_literal(stack.region, '<AWS::Region>')}:"
        f"{_literal(stack.account, '<AWS::AccountId>')}:log-group:{log_group_name}"
    )
    acknowledge(
        role,
        rule("IAM5", "Resource::*"),
        "ecr:GetAuthorizationToken has no resource type in IAM: '*' is the only valid resource; "
        "image pulls themselves are limited to the DLC repository",
    )
    acknowledge(
        role,
        rule("IAM5", f"Resource::{log_group_arn}:log-stream:*"),
        "SageMaker names the log streams of the endpoint's own log group per instance at run time",
    )


def acknowledge_bucket_notifications_handler(stack: Stack) -> None:
    """CDK's own singleton Lambda that configures S3 notifications (no props to harden it)."""
    for child in stack.node.children:
        if child.node.id.startswith("BucketNotificationsHandler"):
            acknowledge(
                child,
                rule(
                    "IAM4",
                    "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
                ),
                "CDK's built-in handler that sets the bucket's notification configuration at deploy "
                "time; it only writes its own logs and cannot take a custom role",
            )
