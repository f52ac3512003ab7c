"""Complete fans a coalesced request's answer out into one record per file, against moto: the
request submit really sent (``test_coalesce_submit``'s wiring), the ``.out`` the endpoint
would write for it, the notification SageMaker would send."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from lambda_events import async_notification, load, notification_event, sqs_event
from lambda_support import BUCKET, CONTEXT, ENDPOINT, Invocations, created_events, exists
from twi_contract import BATCH_CONTENT_TYPE, BatchKeys
from twi_lambdas import batches, complete, inputs, keys, names, submit
from twi_lambdas.ids import inference_id
from twi_lambdas.reconcile import reconcile
from twi_lambdas.runtime import process_batch

DATA = Path(__file__).resolve().parents[1] / "data"
UPLOADS = {  # key -> clip
    "audio/calls/Kɔfi.mp3": "twi_34997394.mp3",
    "audio/calls/Ama.mp3": "twi_36831073.mp3",
    "audio/calls/jfk.opus": "jfk.opus",
    "audio/calls/sonnet.ogg": "sonnet1.ogg",
    "audio/calls/sonnet.webm": "sonnet1.webm",
}
OUTPUT = f"s3://{BUCKET}/{names.ASYNC_OUTPUT_PREFIX}5c1e2d8a-batch.out"


@pytest.fixture
def sent_together(
    s3: Any, uploads_queue: tuple[Any, str], lambda_invocations: Invocations
) -> tuple[str, dict[str, str]]:
    """The uploads, submitted in one invocation as one coalesced request: (its id, key -> the
    file's own inference id)."""
    ids = {}
    for key, clip in UPLOADS.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=(DATA / clip).read_bytes())
        head = s3.head_object(Bucket=BUCKET, Key=key)
        ids[key] = inference_id(BUCKET, key, head["ETag"], head["VersionId"])
    event = sqs_event(*({"Records": [r]} for r in created_events(*uploads_queue)))
    assert submit.handler(event, CONTEXT) == {"batchItemFailures": []}
    (call,) = lambda_invocations.calls
    assert call["ContentType"] == BATCH_CONTENT_TYPE
    return call["InferenceId"], ids


def result(transcript: str, rtf: float) -> dict[str, Any]:
    """One file's result, shaped as a single request's (the sample ``.out``)."""
    sample = load("async-output")
    audio = sample["metadata"]["audio_duration_sec"]
    return {
        **sample,
        "transcript": transcript,
        "metadata": {**sample["metadata"], "rtf": rtf, "processing_time_sec": round(rtf * audio, 3)},
    }


def answer(s3: Any, items: list[dict[str, Any]]) -> None:
    """The endpoint's ``.out`` for a coalesced request."""
    document = {BatchKeys.ITEMS: items, BatchKeys.METADATA: {"files": len(items), "batch_size": 8}}
    bucket, key = keys.parse_s3_uri(OUTPUT)
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(document, ensure_ascii=False).encode())


def done(batch: str) -> dict[str, Any]:
    return async_notification(
        "Completed",
        BUCKET,
        batches.input_key(batch),
        batch,
        output_location=OUTPUT,
        endpoint=ENDPOINT,
        event_time="2026-01-25T22:46:04.608Z",
    )


def failed(batch: str, reason: str) -> dict[str, Any]:
    return async_notification(
        "Failed", BUCKET, batches.input_key(batch), batch, endpoint=ENDPOINT, failure_reason=reason
    )


def read_json(s3: Any, key: str) -> dict[str, Any]:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode("utf-8"))


def path(key: str) -> str:
    found = keys.audio_path(key)
    assert found is not None
    return found


def emf_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{") and '"_aws"' in line]


def _four_results_and_one_error(s3: Any, ids: dict[str, str]) -> dict[str, float]:
    """Answer with a result (each its own RTF) for four files, an error for the last."""
    *transcribed, broken = ids
    rtfs = {key: 0.1 * (i + 1) for i, key in enumerate(transcribed)}
    items: list[dict[str, Any]] = [
        {BatchKeys.ID: ids[key], BatchKeys.RESULT: result(f"transcript of {key}", rtf)}
        for key, rtf in rtfs.items()
    ]
    items.insert(
        2, {BatchKeys.ID: ids[broken], BatchKeys.ERROR: "unsupported audio: could not decode 'sonnet.webm'"}
    )
    answer(s3, items)
    return rtfs


def test_each_file_of_the_answer_gets_its_own_record(
    s3: Any, sent_together: tuple[str, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    batch, ids = sent_together
    rtfs = _four_results_and_one_error(s3, ids)
    capsys.readouterr()

    assert complete.handler(notification_event(done(batch)), CONTEXT) == {"batchItemFailures": []}

    for key, rtf in rtfs.items():
        doc = read_json(s3, keys.transcript_key(path(key)))
        assert doc["transcript"] == f"transcript of {key}" and doc["metadata"]["rtf"] == rtf
        assert doc["source"]["key"] == key and doc["source"]["etag"] in ids[key]
        assert doc["job"]["inference_id"] == ids[key] and doc["job"]["batch_id"] == batch
        assert doc["job"]["output_location"] == OUTPUT and doc["job"]["endpoint"] == ENDPOINT
        assert exists(s3, keys.transcript_key(path(key), names.SRT_SUFFIX))
        assert exists(s3, keys.transcript_key(path(key), names.VTT_SUFFIX))
    broken = "audio/calls/sonnet.webm"
    record = read_json(s3, keys.failed_key(path(broken)))
    assert record["stage"] == "endpoint" and record["inference_id"] == ids[broken]
    assert record["reason"] == (
        "the endpoint could not transcribe 'sonnet.webm': unsupported audio: could not decode 'sonnet.webm'"
    )
    assert not exists(s3, keys.transcript_key(path(broken)))
    assert not any(exists(s3, inputs.input_key(i)) for i in ids.values())  # claims released
    assert not exists(s3, batches.input_key(batch))

    lines = emf_lines(capsys.readouterr().out)
    assert {line["key"]: line["RTF"] for line in lines if "RTF" in line} == {k: [r] for k, r in rtfs.items()}
    assert [line["key"] for line in lines if "Failures" in line] == [broken]


def test_a_redelivered_answer_writes_nothing_new(
    s3: Any, sent_together: tuple[str, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    batch, ids = sent_together
    _four_results_and_one_error(s3, ids)
    event = notification_event(done(batch))
    assert complete.handler(event, CONTEXT) == {"batchItemFailures": []}
    written = {
        o["Key"]: o["ETag"] for o in s3.list_object_versions(Bucket=BUCKET, Prefix="transcripts/")["Versions"]
    }
    capsys.readouterr()

    assert complete.handler(event, CONTEXT) == {"batchItemFailures": []}
    assert {
        o["Key"]: o["ETag"] for o in s3.list_object_versions(Bucket=BUCKET, Prefix="transcripts/")["Versions"]
    } == written  # not one new version
    assert emf_lines(capsys.readouterr().out) == []


def test_a_file_that_cannot_be_stored_is_retried_without_the_others(
    s3: Any, sent_together: tuple[str, dict[str, str]], settings: Any
) -> None:
    batch, ids = sent_together
    _four_results_and_one_error(s3, ids)
    stuck = "audio/calls/Ama.mp3"

    def unavailable(params: dict[str, Any], **_: Any) -> None:
        if params["Key"] == keys.transcript_key(path(stuck)):
            raise ClientError(
                {"Error": {"Code": "ServiceUnavailable"}, "ResponseMetadata": {"HTTPStatusCode": 503}},
                "PutObject",
            )

    s3.meta.events.register("provide-client-params.s3.PutObject", unavailable)
    event = notification_event(done(batch))
    response = process_batch(event, CONTEXT, lambda r: complete.complete_message(r, settings, s3))
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    others = [key for key in ids if key not in (stuck, "audio/calls/sonnet.webm")]
    assert all(exists(s3, keys.transcript_key(path(key))) for key in others)  # kept, claims released
    assert exists(s3, inputs.input_key(ids[stuck])) and exists(s3, batches.input_key(batch))

    s3.meta.events.unregister("provide-client-params.s3.PutObject", unavailable)
    assert process_batch(event, CONTEXT, lambda r: complete.complete_message(r, settings, s3)) == {
        "batchItemFailures": []
    }
    assert read_json(s3, keys.transcript_key(path(stuck)))["transcript"] == f"transcript of {stuck}"
    assert not exists(s3, batches.input_key(batch))


def test_a_failed_request_sends_each_file_again_on_its_own(
    s3: Any,
    uploads_queue: tuple[Any, str],
    sent_together: tuple[str, dict[str, str]],
    lambda_invocations: Invocations,
) -> None:
    batch, ids = sent_together
    message = failed(batch, "ModelError: Invocation timed out after 1800 seconds")

    assert complete.handler(notification_event(message), CONTEXT) == {"batchItemFailures": []}

    assert not any(exists(s3, keys.failed_key(path(key))) for key in ids)  # no file failed for another
    assert not any(exists(s3, inputs.input_key(i)) for i in ids.values())
    assert not exists(s3, batches.input_key(batch))
    again = created_events(*uploads_queue)  # S3's own events, one per file, each for a new version
    assert sorted(keys.decode_event_key(r["s3"]["object"]["key"]) for r in again) == sorted(ids)
    for key in ids:
        head = s3.head_object(Bucket=BUCKET, Key=key)
        assert names.META_ALONE in head["Metadata"]
        assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == (DATA / UPLOADS[key]).read_bytes()

    assert complete.handler(notification_event(message), CONTEXT) == {"batchItemFailures": []}
    assert created_events(*uploads_queue) == []  # a redelivered failure sends nothing twice

    del lambda_invocations.calls[:]
    event = sqs_event(*({"Records": [r]} for r in again))
    assert submit.handler(event, CONTEXT) == {"batchItemFailures": []}
    assert len(lambda_invocations.calls) == len(ids)  # alone, each
    assert all(c["ContentType"] != BATCH_CONTENT_TYPE for c in lambda_invocations.calls)


def test_a_file_the_answer_leaves_out_is_sent_again_on_its_own(
    s3: Any, uploads_queue: tuple[Any, str], sent_together: tuple[str, dict[str, str]]
) -> None:
    batch, ids = sent_together
    forgotten, *answered = ids
    answer(s3, [{BatchKeys.ID: ids[key], BatchKeys.RESULT: result("ok", 0.1)} for key in answered])

    assert complete.handler(notification_event(done(batch)), CONTEXT) == {"batchItemFailures": []}
    assert all(exists(s3, keys.transcript_key(path(key))) for key in answered)
    assert not exists(s3, keys.transcript_key(path(forgotten)))
    assert not exists(s3, keys.failed_key(path(forgotten)))
    (event,) = created_events(*uploads_queue)
    assert keys.decode_event_key(event["s3"]["object"]["key"]) == forgotten
    assert names.META_ALONE in s3.head_object(Bucket=BUCKET, Key=forgotten)["Metadata"]


def test_an_answer_past_its_expiry_fails_each_file_with_the_reason(
    s3: Any, sent_together: tuple[str, dict[str, str]]
) -> None:
    batch, ids = sent_together  # no .out written: it expired before the notification was read
    assert complete.handler(notification_event(done(batch)), CONTEXT) == {"batchItemFailures": []}
    for key in ids:
        record = read_json(s3, keys.failed_key(path(key)))
        assert "no longer exists" in record["reason"] and record["stage"] == "complete"


def test_the_reconciler_still_reads_members_as_in_flight(
    s3: Any, sent_together: tuple[str, dict[str, str]], settings: Any
) -> None:
    report = reconcile(settings, s3, now=datetime.now(UTC) + timedelta(hours=2))
    assert sorted(report.in_flight) == sorted(UPLOADS)  # each member's claim marks it
