"""The reconcile function against moto: an upload whose notification never came still ends
with an outcome, announced again once through S3's own event, then recorded as failed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lambda_support import BUCKET, Invocations, created_events, exists
from twi_lambdas import inputs, keys, names, submit
from twi_lambdas.events import parse_s3_notification
from twi_lambdas.ids import inference_id
from twi_lambdas.reconcile import reconcile
from twi_lambdas.settings import Settings
from twi_lambdas.store import Revision

DATA = Path(__file__).resolve().parents[1] / "data"
KEY = "audio/calls/Kɔfi.mp3"


def _after(hours: float) -> datetime:
    return datetime.now(UTC) + timedelta(hours=hours)


def test_a_lost_notification_is_announced_again_then_recorded_as_failed(
    s3: Any, uploads_queue: tuple[Any, str], settings: Settings, sagemaker: tuple[Any, Invocations]
) -> None:
    sqs, url = uploads_queue
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=(DATA / "jfk.mp3").read_bytes(), Metadata={"language": "tw"})
    assert len(created_events(sqs, url)) == 1  # ... and lost: nobody submits it

    assert reconcile(settings, s3, now=_after(0.5)).checked == 0  # still within the grace
    report = reconcile(settings, s3, now=_after(2))
    assert report.resubmitted == [KEY] and report.unaccounted == 1
    (event,) = created_events(sqs, url)  # S3's own event, with a sequencer, for a new version
    assert event["eventName"].startswith("ObjectCreated:Copy")
    head = s3.head_object(Bucket=BUCKET, Key=KEY)
    assert head["Metadata"]["language"] == "tw" and names.META_RECONCILED in head["Metadata"]

    client, sent = sagemaker  # the normal path takes it from there; this time the endpoint never answers
    (obj,) = parse_s3_notification(json.dumps({"Records": [event]}))
    assert submit.submit_object(obj, settings, s3, client).status == "submitted"
    assert len(sent.calls) == 1

    assert reconcile(settings, s3, now=_after(3)).in_flight == [KEY]  # its request may still answer
    lifetime_h = settings.request_lifetime_seconds / 3600
    report = reconcile(settings, s3, now=_after(3 + lifetime_h))
    assert report.gave_up == [KEY] and report.resubmitted == []
    record = json.loads(s3.get_object(Bucket=BUCKET, Key=keys.failed_key("calls/Kɔfi.mp3"))["Body"].read())
    assert record["reason"].startswith(
        "no transcript: 'Kɔfi.mp3' got no outcome, even after it was submitted"
    )
    assert record["stage"] == "reconcile"
    assert not exists(s3, inputs.input_key(sent.calls[0]["InferenceId"]))  # the dead claim is cleared

    again = reconcile(settings, s3, now=_after(3 + lifetime_h))
    assert (again.checked, again.unaccounted) == (1, 0)  # accounted for now: nothing more to do
    assert len(sent.calls) == 1 and created_events(sqs, url) == []


def test_uploads_with_an_outcome_are_left_alone(
    s3: Any, uploads_queue: tuple[Any, str], settings: Settings
) -> None:
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=(DATA / "jfk.mp3").read_bytes())
    head = s3.head_object(Bucket=BUCKET, Key=KEY)
    request = inference_id(BUCKET, KEY, head["ETag"], head["VersionId"])
    s3.put_object(
        Bucket=BUCKET,
        Key=keys.transcript_key("calls/Kɔfi.mp3"),
        Body=b"{}",
        Metadata=Revision("", request).metadata(),
    )
    report = reconcile(settings, s3, now=_after(2))
    assert (report.checked, report.unaccounted) == (1, 0)
    # a transcript of an older upload under the same key does not account for this one
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=(DATA / "sonnet1.mp3").read_bytes())
    created_events(*uploads_queue)
    assert reconcile(settings, s3, now=_after(2)).resubmitted == [KEY]
