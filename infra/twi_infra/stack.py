"""TwiAsrStack: S3 audio/ -> SQS -> submit -> SageMaker async -> SNS -> SQS -> complete -> S3."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sns_subscriptions as subs
from constructs import Construct
from twi_lambdas import names

from twi_infra import builders, nag, runtime_values
from twi_infra.async_endpoint import AsyncEndpointProps, AsyncWhisperEndpoint
from twi_infra.config import StackSettings
from twi_infra.functions import LOG_RETENTION, QueueWorker, WorkerProps
from twi_infra.model_source import resolve_model_data
from twi_infra.monitoring import Monitoring, MonitoringProps
from twi_infra.output_keys import OutputKeys
from twi_infra.queues import QueueWithDlq
from twi_infra.runtime_values import COMPLETE, RECONCILE, SUBMIT
from twi_infra.scaling import BacklogScaling
from twi_infra.storage import TranscriptionBucket

SUBMIT_READS = (names.AUDIO_PREFIX, names.TRANSCRIPTS_PREFIX, names.FAILED_PREFIX)
SUBMIT_INPUTS = (names.UPLOAD_INPUT_PREFIX, names.BATCH_INPUT_PREFIX)  # claims, copies, coalesced
COMPLETE_READS = (
    names.UPLOAD_INPUT_PREFIX,  # the pinned input's metadata names the upload
    names.BATCH_INPUT_PREFIX,  # a coalesced request's metadata names its members
    names.ASYNC_OUTPUT_PREFIX,
    names.ASYNC_FAILURE_PREFIX,
    names.AUDIO_PREFIX,
    names.TRANSCRIPTS_PREFIX,
    names.FAILED_PREFIX,
)


RECONCILE_READS = (
    names.AUDIO_PREFIX,
    names.TRANSCRIPTS_PREFIX,
    names.FAILED_PREFIX,
    names.UPLOAD_INPUT_PREFIX,
)


def _objects(bucket: s3.IBucket, *prefixes: str) -> list[str]:
    return [bucket.arn_for_objects(f"{prefix}*") for prefix in prefixes]


def _list_bucket(bucket: s3.IBucket) -> iam.PolicyStatement:
    """Without ListBucket, HeadObject on a missing key answers 403 instead of 404, and the
    Lambdas could not tell "no result yet" from "not allowed"."""
    return iam.PolicyStatement(
        sid="MissingMeans404", actions=["s3:ListBucket"], resources=[bucket.bucket_arn]
    )


class TwiAsrStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StackSettings,
        staging_dir: Path,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.settings = settings
        key = kms.Key(
            self,
            "NotificationKey",
            description="Encrypts the Twi ASR SNS topics (results, errors, alarms)",
            enable_key_rotation=True,
        )
        # CloudWatch publishes alarms to the encrypted alarm topic with this key.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarms",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy "*" means this key
                conditions={"StringEquals": {"aws:SourceAccount": self.account}},
            )
        )
        storage = TranscriptionBucket(
            self, "Storage", async_output_expiry_days=settings.async_output_expiry_days
        )
        bucket = storage.bucket

        model_data = resolve_model_data(self, settings, staging_dir)  # model.tar.gz cache
        endpoint = AsyncWhisperEndpoint(
            self,
            "Whisper",
            AsyncEndpointProps(
                bucket=bucket,
                topic_key=key,
                endpoint_name=settings.endpoint_name,
                image_uri=builders.image_uri(settings.region, settings.instance_type),
                model_data=model_data,
                environment=runtime_values.model_environment(
                    region=settings.region,
                    language=settings.language,
                    task=settings.task,
                    hf_model_id=settings.effective_hf_model_id,
                    hf_model_revision=settings.hf_model_revision,
                    workers=settings.max_concurrent_invocations_per_instance,
                    beam_size=settings.beam_size,
                ),
                instance_type=settings.instance_type,
                initial_instance_count=settings.min_instances,
                max_concurrent_invocations_per_instance=settings.max_concurrent_invocations_per_instance,
                network_isolation=settings.effective_network_isolation,
                log_retention=LOG_RETENTION,
            ),
        )
        if settings.autoscaling:
            scaling = BacklogScaling(
                self,
                "Scaling",
                endpoint_name=settings.endpoint_name,
                min_instances=settings.min_instances,
                max_instances=settings.max_instances,
                target_backlog_per_instance=settings.backlog_per_instance_target,
            )
            scaling.target.node.add_dependency(endpoint.endpoint)  # the variant must exist first

        submit_queue = QueueWithDlq(self, "Submit", consumer=SUBMIT)
        result_queue = QueueWithDlq(self, "Result", consumer=COMPLETE)
        # Only uploads under audio/ start work: results written elsewhere can never loop back.
        bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3n.SqsDestination(submit_queue.queue),
            s3.NotificationKeyFilter(prefix=names.AUDIO_PREFIX),
        )
        submit_queue.accept_only_from_account("s3.amazonaws.com", self.account)
        for topic in (endpoint.success_topic, endpoint.error_topic):
            # A notification SNS cannot deliver (queue policy, KMS) lands in the result DLQ,
            # where its alarm fires, instead of vanishing after SNS's retries.
            topic.add_subscription(
                subs.SqsSubscription(
                    result_queue.queue, raw_message_delivery=False, dead_letter_queue=result_queue.dlq
                )
            )

        def environment(worker: runtime_values.Worker | runtime_values.Scheduled) -> dict[str, str]:
            return runtime_values.function_environment(
                worker,
                bucket_name=bucket.bucket_name,
                endpoint_name=settings.endpoint_name,
                task=settings.task,
                coalescing=settings.coalescing,
            )

        self.submit = QueueWorker(
            self,
            "SubmitWorker",
            WorkerProps(
                worker=SUBMIT,
                description="Validates uploads under audio/ and calls InvokeEndpointAsync",
                queue=submit_queue.queue,
                environment=environment(SUBMIT),
                statements=[
                    iam.PolicyStatement(
                        sid="ReadUploadsAndResults",  # HeadObject needs GetObject: size, type, metadata
                        actions=["s3:GetObject"],
                        resources=_objects(bucket, *SUBMIT_READS),
                    ),
                    iam.PolicyStatement(
                        sid="WriteFailures",
                        actions=["s3:PutObject"],
                        resources=_objects(bucket, names.FAILED_PREFIX),
                    ),
                    iam.PolicyStatement(
                        sid="CopyTheSubmittedVersion",  # CopySource or GetObject with a VersionId
                        actions=["s3:GetObjectVersion"],
                        resources=_objects(bucket, names.AUDIO_PREFIX),
                    ),
                    iam.PolicyStatement(
                        # claim, copy, release (twi_lambdas.inputs); coalesced requests (batches)
                        sid="PinInputs",
                        actions=["s3:PutObject", "s3:DeleteObject"],
                        resources=_objects(bucket, *SUBMIT_INPUTS),
                    ),
                    _list_bucket(bucket),
                    iam.PolicyStatement(
                        sid="Invoke",
                        actions=["sagemaker:InvokeEndpointAsync"],
                        resources=[endpoint.endpoint_arn],
                    ),
                ],
            ),
        )
        self.complete = QueueWorker(
            self,
            "CompleteWorker",
            WorkerProps(
                worker=COMPLETE,
                description="Turns SageMaker results into transcripts/ (or failed/) and emits RTF metrics",
                queue=result_queue.queue,
                environment=environment(COMPLETE),
                statements=[
                    iam.PolicyStatement(
                        sid="ReadResults",  # raw endpoint output, the source's head, existing results
                        actions=["s3:GetObject"],
                        resources=_objects(bucket, *COMPLETE_READS),
                    ),
                    iam.PolicyStatement(
                        sid="WriteResults",
                        actions=["s3:PutObject"],
                        resources=_objects(bucket, names.TRANSCRIPTS_PREFIX, names.FAILED_PREFIX),
                    ),
                    iam.PolicyStatement(
                        sid="ClearStaleFailures",  # a retry that succeeded removes its failed/ record
                        actions=["s3:DeleteObject"],
                        resources=_objects(bucket, names.FAILED_PREFIX),
                    ),
                    iam.PolicyStatement(
                        sid="ReleaseInputs",  # the outcome is recorded: the request is no longer in flight
                        actions=["s3:DeleteObject"],
                        resources=_objects(bucket, names.UPLOAD_INPUT_PREFIX, names.BATCH_INPUT_PREFIX),
                    ),
                    iam.PolicyStatement(
                        # a coalesced request that failed as a whole: each member is copied onto
                        # itself (twi_lambdas.announce), the current version, so GetObject suffices
                        sid="AnnounceMembersAlone",
                        actions=["s3:PutObject"],
                        resources=_objects(bucket, names.AUDIO_PREFIX),
                    ),
                    _list_bucket(bucket),
                ],
            ),
        )

        self.reconcile = QueueWorker(
            self,
            "ReconcileWorker",
            WorkerProps(
                worker=RECONCILE,
                description="Finds uploads with no outcome: announces them again once, then writes failed/",
                queue=None,
                environment=environment(RECONCILE),
                statements=[
                    iam.PolicyStatement(
                        sid="ListUploadVersions",
                        actions=["s3:ListBucketVersions"],
                        resources=[bucket.bucket_arn],
                    ),
                    iam.PolicyStatement(
                        sid="ReadUploadsResultsAndClaims",
                        actions=["s3:GetObject"],
                        resources=_objects(bucket, *RECONCILE_READS),
                    ),
                    iam.PolicyStatement(
                        sid="ReadUploadVersions",
                        actions=["s3:GetObjectVersion"],
                        resources=_objects(bucket, names.AUDIO_PREFIX),
                    ),
                    iam.PolicyStatement(
                        sid="AnnounceAgainAndRecordFailures",  # a copy onto itself re-sends the S3 event
                        actions=["s3:PutObject"],
                        resources=_objects(bucket, names.AUDIO_PREFIX, names.FAILED_PREFIX),
                    ),
                    iam.PolicyStatement(
                        sid="ClearDeadClaims",
                        actions=["s3:DeleteObject"],
                        resources=_objects(bucket, names.UPLOAD_INPUT_PREFIX),
                    ),
                    _list_bucket(bucket),
                ],
            ),
        )
        events.Rule(
            self,
            "ReconcileSchedule",
            description="Every upload ends with an outcome (twi_lambdas.reconcile)",
            schedule=events.Schedule.rate(Duration.minutes(RECONCILE.every_minutes)),
            targets=[targets.LambdaFunction(self.reconcile.function, retry_attempts=2)],
        )

        monitoring = Monitoring(
            self,
            "Monitoring",
            MonitoringProps(
                endpoint_name=settings.endpoint_name,
                topic_key=key,
                dlq_depths={SUBMIT.dlq: submit_queue.dlq_depth, COMPLETE.dlq: result_queue.dlq_depth},
                dlq_alarms=[submit_queue.dlq_alarm, result_queue.dlq_alarm],
                functions={
                    "Submit": self.submit.function,
                    "Complete": self.complete.function,
                    "Reconcile": self.reconcile.function,
                },
                rtf_p90_threshold=settings.rtf_p90_alarm_threshold,
                oldest_request_seconds=settings.oldest_request_alarm_seconds,
                alarm_email=settings.alarm_email,
            ),
        )

        CfnOutput(
            self, OutputKeys.BUCKET_NAME, value=bucket.bucket_name, description="Upload audio under audio/"
        )
        CfnOutput(self, OutputKeys.ENDPOINT_NAME, value=settings.endpoint_name)
        CfnOutput(self, OutputKeys.DASHBOARD_URL, value=monitoring.dashboard_url)
        CfnOutput(self, OutputKeys.SUBMIT_QUEUE_URL, value=submit_queue.queue.queue_url)
        CfnOutput(self, OutputKeys.RESULT_QUEUE_URL, value=result_queue.queue.queue_url)
        CfnOutput(self, OutputKeys.ALARM_TOPIC_ARN, value=monitoring.alarm_topic.topic_arn)
        self._acknowledge_nag_findings(storage.bucket, endpoint)

    def _acknowledge_nag_findings(self, bucket: s3.Bucket, endpoint: AsyncWhisperEndpoint) -> None:
        nag.acknowledge_prefix_wildcards(
            bucket,
            [
                nag.PrefixGrant(
                    endpoint.role,
                    [
                        names.AUDIO_PREFIX,
                        names.ASYNC_INPUT_PREFIX,
                        names.ASYNC_OUTPUT_PREFIX,
                        names.ASYNC_FAILURE_PREFIX,
                    ],
                ),
                nag.PrefixGrant(self.submit.role, {*SUBMIT_READS, names.FAILED_PREFIX, *SUBMIT_INPUTS}),
                nag.PrefixGrant(
                    self.complete.role, {*COMPLETE_READS, names.TRANSCRIPTS_PREFIX, names.FAILED_PREFIX}
                ),
                nag.PrefixGrant(self.reconcile.role, set(RECONCILE_READS)),
            ],
        )
        nag.acknowledge_sagemaker_role(endpoint.role, endpoint.log_group_name)
        for worker in (self.submit, self.complete, self.reconcile):
            nag.acknowledge_lambda_runtime(worker.function)
        nag.acknowledge_bucket_notifications_handler(self)
