"""Lambda ``reconcile`` (on a schedule): every upload ends with an outcome, even when a
notification never came.

S3 -> SQS and SNS -> SQS deliver at least once, but a misconfigured queue policy, a KMS
fault or a request that expired in the endpoint's queue leaves an upload with no transcript,
no ``failed/`` record and no DLQ message: nothing would ever tell the user. Each run looks at
the latest version of every upload between ``reconcile_grace_seconds`` and
``reconcile_lookback_seconds`` old. One is accounted for when a ``transcripts/`` or
``failed/`` record carries its inference id, or while its request is in flight (its pinned
input, ``twi_lambdas.inputs``, is younger than the longest a request can take). Otherwise it
is *unaccounted*:

- the first time, it is announced again (``twi_lambdas.announce``): copied onto itself with a
  ``twi-reconciled-at`` metadata entry, which makes S3 send a fresh ObjectCreated event, with
  a real sequencer, so the normal path (and its newest-upload-wins order) takes it from there
  (unless a newer upload replaced it meanwhile: its own event does that);
- if that upload is unaccounted again, ``failed/<path>.json`` says so, for the user to see.

Each run emits ``Unaccounted`` and ``Resubmitted`` (an alarm watches ``Unaccounted``: a lost
notification is worth knowing about even when the retry works).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from twi_lambdas import inputs, keys, names
from twi_lambdas.announce import announce_again
from twi_lambdas.aws import s3_client
from twi_lambdas.errors import ConfigurationError
from twi_lambdas.events import format_time
from twi_lambdas.ids import inference_id as make_inference_id
from twi_lambdas.results import JSON_CONTENT_TYPE, Source, failed_document, to_json_bytes
from twi_lambdas.runtime import emit, logger, tracer
from twi_lambdas.settings import Settings, load_settings
from twi_lambdas.store import Revision, head_or_none, head_revision, put_if_newer

STAGE = "reconcile"


@dataclass
class ReconcileReport:
    checked: int = 0
    in_flight: list[str] = field(default_factory=list)
    resubmitted: list[str] = field(default_factory=list)
    gave_up: list[str] = field(default_factory=list)

    @property
    def unaccounted(self) -> int:
        return len(self.resubmitted) + len(self.gave_up)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    report = reconcile(load_settings(), s3_client())
    return {
        "checked": report.checked,
        "in_flight": len(report.in_flight),
        "resubmitted": report.resubmitted,
        "gave_up": report.gave_up,
    }


def reconcile(settings: Settings, s3: Any, now: datetime | None = None) -> ReconcileReport:
    """One pass over the recent uploads of ``settings.bucket_name``."""
    if not settings.bucket_name:
        raise ConfigurationError(f"{names.ENV_BUCKET_NAME} is not set: reconcile has no bucket to look at")
    bucket = settings.bucket_name
    now = now or datetime.now(UTC)
    newest = now - timedelta(seconds=settings.reconcile_grace_seconds)
    oldest = now - timedelta(seconds=settings.reconcile_lookback_seconds)
    report = ReconcileReport()
    for version in _latest_versions(s3, bucket):
        modified: datetime = version["LastModified"]
        key = str(version["Key"])
        path = keys.audio_path(key)
        if not oldest <= modified <= newest or path is None or keys.is_folder_marker(key):
            continue
        if not keys.result_keys_fit(path) or int(version.get("Size", 0)) == 0:
            continue  # submit refused it with a log line (too long) or a failed/ record (empty)
        report.checked += 1
        version_id = version.get("VersionId")
        version_id = None if version_id in (None, "null") else str(version_id)
        etag = str(version["ETag"]).strip('"')
        request = make_inference_id(bucket, key, etag, version_id)
        if _accounted(s3, bucket, path, request):
            continue
        claim = _claim_age(s3, bucket, request, now)
        if claim is not None and claim < settings.request_lifetime_seconds:
            report.in_flight.append(key)
            continue
        if claim is not None:
            inputs.release(s3, bucket, request)  # a request that can no longer answer
        source = Source(bucket, key, int(version.get("Size", 0)), etag, version_id, uploaded_at=modified)
        if _announced_before(s3, bucket, key, version_id):
            _give_up(s3, bucket, path, source, request, now, settings)
            report.gave_up.append(key)
        elif announce_again(s3, bucket, key, etag, {names.META_RECONCILED: format_time(now)}):
            logger.warning("s3://%s/%s had no outcome: announced again", bucket, key)
            report.resubmitted.append(key)
    emit(
        settings.metrics_namespace,
        settings.endpoint_name or "unset",
        {names.METRIC_UNACCOUNTED: report.unaccounted, names.METRIC_RESUBMITTED: len(report.resubmitted)},
        checked=report.checked,
    )
    logger.info(
        "checked %d uploads: %d in flight, %d announced again, %d given up",
        report.checked,
        len(report.in_flight),
        len(report.resubmitted),
        len(report.gave_up),
    )
    return report


def _latest_versions(s3: Any, bucket: str) -> Any:
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=names.AUDIO_PREFIX):
        for version in page.get("Versions", []):
            if version.get("IsLatest"):
                yield version


def _accounted(s3: Any, bucket: str, path: str, request: str) -> bool:
    for result_key in (keys.transcript_key(path), keys.failed_key(path)):
        existing = head_revision(s3, bucket, result_key)
        if existing is not None and existing[0] is not None and existing[0].id == request:
            return True
    return False


def _claim_age(s3: Any, bucket: str, request: str, now: datetime) -> float | None:
    head = head_or_none(s3, bucket, inputs.input_key(request))
    return None if head is None else (now - head["LastModified"]).total_seconds()


def _head(s3: Any, bucket: str, key: str, version_id: str | None) -> dict[str, Any]:
    extra = {"VersionId": version_id} if version_id else {}
    return dict(s3.head_object(Bucket=bucket, Key=key, **extra))


def _announced_before(s3: Any, bucket: str, key: str, version_id: str | None) -> bool:
    return names.META_RECONCILED in (_head(s3, bucket, key, version_id).get("Metadata") or {})


def _give_up(
    s3: Any, bucket: str, path: str, source: Source, request: str, now: datetime, settings: Settings
) -> None:
    reason = (
        f"no transcript: '{keys.file_name(source.key)}' got no outcome, even after it was submitted "
        "again; the endpoint may be unavailable (see the dashboard), upload it again to retry"
    )
    document = failed_document(reason, STAGE, source, now, inference_id=request)
    put_if_newer(
        s3, bucket, keys.failed_key(path), to_json_bytes(document), JSON_CONTENT_TYPE, Revision("", request)
    )
    emit(
        settings.metrics_namespace,
        settings.endpoint_name or "unset",
        {names.METRIC_FAILURES: 1},
        key=source.key,
    )
    logger.error(
        "s3://%s/%s: no outcome after it was announced again; wrote %s",
        bucket,
        source.key,
        keys.failed_key(path),
    )
