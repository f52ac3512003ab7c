"""The one bucket users and the pipeline share, and the bucket that keeps its access logs."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct
from twi_lambdas import names

ACCESS_LOG_RETENTION_DAYS = 365
NONCURRENT_VERSION_DAYS = 30  # overwritten transcripts stay recoverable this long
MULTIPART_ABORT_DAYS = 7


class TranscriptionBucket(Construct):
    """Versioned, encrypted, TLS-only bucket; raw endpoint output expires by lifecycle rule.

    Both buckets are retained when the stack is deleted: they hold users' recordings and
    the audit trail, which a ``cdk destroy`` must not take with it.
    """

    def __init__(self, scope: Construct, construct_id: str, *, async_output_expiry_days: int) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,  # the only option S3 log delivery supports
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(id="expire-logs", expiration=Duration.days(ACCESS_LOG_RETENTION_DAYS))
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        expiry = Duration.days(async_output_expiry_days)
        self.bucket = s3.Bucket(
            self,
            "Data",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="data/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-async-input",  # direct invoke_endpoint_async uploads (twi-asr CLI)
                    prefix=names.ASYNC_INPUT_PREFIX,
                    expiration=expiry,
                    noncurrent_version_expiration=Duration.days(1),
                ),
                s3.LifecycleRule(
                    id="expire-async-output",
                    prefix=names.ASYNC_OUTPUT_PREFIX,
                    expiration=expiry,
                    noncurrent_version_expiration=Duration.days(1),
                ),
                s3.LifecycleRule(
                    id="expire-async-failures",
                    prefix=names.ASYNC_FAILURE_PREFIX,
                    expiration=expiry,
                    noncurrent_version_expiration=Duration.days(1),
                ),
                s3.LifecycleRule(
                    id="tidy-versions-and-uploads",
                    noncurrent_version_expiration=Duration.days(NONCURRENT_VERSION_DAYS),
                    abort_incomplete_multipart_upload_after=Duration.days(MULTIPART_ABORT_DAYS),
                    expired_object_delete_marker=True,
                ),
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
