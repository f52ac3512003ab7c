"""The submit function against moto: S3 + SQS-shaped events in, InvokeEndpointAsync out.

What submit sent is captured by a botocore event hook on the real sagemaker-runtime client
(the request still goes to moto's sagemaker-runtime backend, which records it too).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import SQSEvent
from botocore.exceptions import ClientError
from lambda_events import s3_put, s3_test_event, sqs_event
from lambda_support import BUCKET, CONTEXT, ENDPOINT, REGION, Invocations, exists, source_of
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sagemakerruntime.models import sagemakerruntime_backends
from twi_lambdas import keys, names, submit
from twi_lambdas.errors import ConfigurationError, Transient
from twi_lambdas.events import parse_s3_notification
from twi_lambdas.ids import etag_of
from twi_lambdas.runtime import process_batch
from twi_lambdas.settings import Settings, load_settings
from twi_lambdas.store import Revision

DATA = Path(__file__).resolve().parents[1] / "data"


def upload(s3: Any, key: str, body: bytes, **extra: Any) -> dict[str, Any]:
    """Put an object and return the S3 notification S3 would send for it."""
    s3.put_object(Bucket=BUCKET, Key=key, Body=body, **extra)
    head = s3.head_object(Bucket=BUCKET, Key=key)
    return s3_put(BUCKET, key, head["ContentLength"], head["ETag"], event_time="2026-01-25T22:45:58.123Z")


def failed_record(s3: Any, path: str) -> dict[str, Any]:
    body = s3.get_object(Bucket=BUCKET, Key=keys.failed_key(path))
    assert body["ContentType"] == "application/json; charset=utf-8"
    return json.loads(body["Body"].read().decode("utf-8"))


def test_submits_a_wav_with_everything_the_endpoint_needs(
    s3: Any, sagemaker: tuple[Any, Invocations], settings: Settings
) -> None:
    client, sent = sagemaker
    event = sqs_event(
        upload(s3, "audio/interviews/librivox_0880.wav", (DATA / "librivox_0880.wav").read_bytes())
    )
    record = event["Records"][0]

    (sqs_record,) = SQSEvent(event).records
    results = submit.submit_message(sqs_record, settings, s3, client)

    assert [r.status for r in results] == ["submitted"]
    assert len(sent.calls) == 1
    call = sent.calls[0]
    etag = s3.head_object(Bucket=BUCKET, Key="audio/interviews/librivox_0880.wav")["ETag"].strip('"')
    assert call["EndpointName"] == ENDPOINT
    assert source_of(s3, call) == "audio/interviews/librivox_0880.wav"
    assert call["ContentType"] == "audio/wav"
    assert call["InvocationTimeoutSeconds"] == 1800
    # no language asked: none sent (the endpoint applies the deployment's default, as "config")
    assert call["CustomAttributes"] == "task=transcribe;filename=librivox_0880.wav"
    assert len(call["InferenceId"]) <= 64 and etag_of(call["InferenceId"]) == etag
    backend = sagemakerruntime_backends[DEFAULT_ACCOUNT_ID][REGION]
    assert call["InputLocation"] in backend.async_results[ENDPOINT]
    assert record["messageId"]  # the sample's SQS record shape was used


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("jfk.mp3", "audio/mpeg"),
        ("jfk.opus", "audio/ogg"),
        ("sonnet1.m4a", "audio/mp4"),
        ("sonnet1.ogg", "audio/ogg"),
        ("sonnet1.webm", "audio/webm"),
        ("twi_34997394.mp3", "audio/mpeg"),
    ],
)
def test_content_type_follows_the_format(
    s3: Any, sagemaker: tuple[Any, Invocations], settings: Settings, name: str, content_type: str
) -> None:
    client, sent = sagemaker
    event = upload(s3, f"audio/{name}", (DATA / name).read_bytes())

    (obj,) = parse_s3_notification(json.dumps(event))
    assert submit.submit_object(obj, settings, s3, client).status == "submitted"
    assert sent.calls[-1]["ContentType"] == content_type


def test_handler_processes_a_batch_and_reports_only_the_bad_records(
    s3: Any, lambda_invocations: Invocations, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One poisoned record, one test event, one Twi key, one zero-byte object, one
    non-audio file, one folder marker and one oversized file, in a single batch."""
    monkeypatch.setenv(names.ENV_MAX_INPUT_BYTES, "100000")  # the 227 kB wav is "too large"
    twi_key = "audio/2026+/Me din de Kɔfi + ɛna.mp3"
    bodies: list[Any] = [
        upload(s3, twi_key, (DATA / "twi_34997394.mp3").read_bytes(), Metadata={"language": "ak"}),
        "{this is not json",
        s3_test_event(BUCKET),
        upload(s3, "audio/empty.wav", b""),
        upload(s3, "audio/notes/shopping-list.mp3", "Nkwan, bayerɛ, nkyene\n".encode()),
        upload(s3, "audio/new folder/", b""),
        upload(s3, "audio/long/librivox_0870.wav", (DATA / "librivox_0870.wav").read_bytes()),
        upload(s3, "audio/photo.png.mp3", b"\x89PNG\r\n\x1a\n" + bytes(200)),
    ]
    event = sqs_event(*bodies)

    response = submit.handler(event, CONTEXT)

    poisoned = event["Records"][1]["messageId"]
    assert response == {"batchItemFailures": [{"itemIdentifier": poisoned}]}
    assert [source_of(s3, c) for c in lambda_invocations.calls] == [twi_key]
    assert (
        lambda_invocations.calls[0]["CustomAttributes"]
        == "language=ak;task=transcribe;filename=Me din de K_fi + _na.mp3"
    )
    assert failed_record(s3, "empty.wav")["reason"] == "empty file: 'empty.wav' has 0 bytes"
    assert failed_record(s3, "notes/shopping-list.mp3")["reason"] == "not audio: 'shopping-list.mp3' is text"
    assert failed_record(s3, "photo.png.mp3")["reason"] == "not audio: 'photo.png.mp3' is a PNG image"
    too_large = failed_record(s3, "long/librivox_0870.wav")
    assert too_large["reason"].startswith(
        "too large: 'librivox_0870.wav' is 221.9 KB, over the 97.7 KB limit"
    )
    assert too_large["stage"] == "submit"
    assert too_large["source"]["key"] == "audio/long/librivox_0870.wav"
    assert not exists(s3, keys.failed_key("new folder/"))  # a folder marker is not an upload


def test_a_key_with_spaces_plus_and_twi_letters_is_decoded(
    s3: Any, sagemaker: tuple[Any, Invocations], settings: Settings
) -> None:
    client, sent = sagemaker
    key = "audio/Kɔfi ne Ama/ɛnnɔ + nnɛ.m4a"
    event = upload(s3, key, (DATA / "sonnet1.m4a").read_bytes())
    assert "%C9%94" in event["Records"][0]["s3"]["object"]["key"]  # encoded the way S3 does
    assert "+" in event["Records"][0]["s3"]["object"]["key"]

    (obj,) = parse_s3_notification(json.dumps(event))
    assert obj.key == key
    assert submit.submit_object(obj, settings, s3, client).status == "submitted"
    assert source_of(s3, sent.calls[0]) == key


def test_the_same_object_always_gets_the_same_inference_id(
    s3: Any, sagemaker: tuple[Any, Invocations], settings: Settings
) -> None:
    client, sent = sagemaker
    event = json.dumps(upload(s3, "audio/jfk.mp3", (DATA / "jfk.mp3").read_bytes()))

    (obj,) = parse_s3_notification(event)
    assert submit.submit_object(obj, settings, s3, client).status == "submitted"
    # the same event again (S3 and SQS deliver at least once) while the request is in flight
    again = submit.submit_object(obj, settings, s3, client)
    assert (again.status, again.inference_id) == ("duplicate", sent.calls[0]["InferenceId"])
    assert len(sent.calls) == 1  # one GPU request

    # a new upload under the same key is a new object: a new id; the old event is now stale
    newer = json.dumps(upload(s3, "audio/jfk.mp3", (DATA / "sonnet1.mp3").read_bytes()))
    (new_obj,) = parse_s3_notification(newer)
    assert submit.submit_object(obj, settings, s3, client).status == "ignored"
    assert submit.submit_object(new_obj, settings, s3, client).status == "submitted"
    assert sent.calls[-1]["InferenceId"] != sent.calls[0]["InferenceId"]
    assert len(sent.calls) == 2


def test_an_already_transcribed_object_is_not_submitted_again(
    s3: Any, sagemaker: tuple[Any, Invocations], settings: Settings
) -> None:
    client, sent = sagemaker

    (obj,) = parse_s3_notification(json.dumps(upload(s3, "audio/jfk.mp3", (DATA / "jfk.mp3").read_bytes())))
    first = submit.submit_object(obj, settings, s3, client)
    s3.put_object(
        Bucket=BUCKET,
        Key=keys.transcript_key("jfk.mp3"),
        Body=b"{}",
        Metadata=Revision("2026-01-25T22:46:04.608Z", str(first.inference_id)).metadata(),
    )
    assert submit.submit_object(obj, settings, s3, client).status == "duplicate"
    assert len(sent.calls) == 1


def submit_with_metadata(s3: Any, client: Any, settings: Settings, name: str, **metadata: str) -> str:
    """Upload the shipped clip ``name`` under audio/ with user metadata; submit's verdict."""
    event = upload(s3, f"audio/{name}", (DATA / name).read_bytes(), Metadata=metadata)
    (obj,) = parse_s3_notification(json.dumps(event))
    return submit.submit_object(obj, settings, s3, client).status


def test_invalid_language_metadata_is_rejected_with_the_reason(
    s3: Any, sagemaker: tuple[Any, Invocations], settings: Settings
) -> None:
    client, sent = sagemaker
    assert submit_with_metadata(s3, client, settings, "jfk.mp3", language="Twi please") == "rejected"
    assert "invalid x-amz-meta-language 'Twi please'" in failed_record(s3, "jfk.mp3")["reason"]
    assert sent.calls == []


def test_word_times_asked_by_metadata_reach_the_endpoint(
    s3: Any, sagemaker: tuple[Any, Invocations], settings: Settings
) -> None:
    client, sent = sagemaker
    assert submit_with_metadata(s3, client, settings, "jfk.mp3", words="TRUE") == "submitted"
    assert sent.calls[-1]["CustomAttributes"] == "task=transcribe;words=true;filename=jfk.mp3"

    assert submit_with_metadata(s3, client, settings, "sonnet1.ogg", words="please") == "rejected"
    reason = failed_record(s3, "sonnet1.ogg")["reason"]
    assert reason == "invalid x-amz-meta-words 'please': expected true or false"
    assert len(sent.calls) == 1


def _throttle(**_: Any) -> None:
    raise ClientError(
        {
            "Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        },
        "InvokeEndpointAsync",
    )


def test_throttling_is_retried_and_the_last_delivery_leaves_a_failed_record(
    s3: Any, sagemaker: tuple[Any, Invocations], settings: Settings
) -> None:
    client, _sent = sagemaker
    client.meta.events.register("before-call.sagemaker-runtime.InvokeEndpointAsync", _throttle)
    body = upload(s3, "audio/jfk.mp3", (DATA / "jfk.mp3").read_bytes())

    (obj,) = parse_s3_notification(json.dumps(body))
    with pytest.raises(Transient, match="ThrottlingException"):
        submit.submit_object(obj, settings, s3, client)
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=names.UPLOAD_INPUT_PREFIX)["KeyCount"] == 0  # released

    for receive_count in (1, names.MAX_RECEIVE_COUNT):
        event = sqs_event(body, receive_count=receive_count)
        response = process_batch(event, CONTEXT, lambda r: submit.submit_message(r, settings, s3, client))
        assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
        if receive_count == 1:  # it will be retried: nothing to tell the user yet
            assert not exists(s3, keys.failed_key("jfk.mp3"))
    reason = failed_record(s3, "jfk.mp3")["reason"]
    assert reason.startswith(f"could not submit after {names.MAX_RECEIVE_COUNT} attempts: endpoint busy")


def test_a_configuration_error_fails_the_whole_invocation(moto_aws: None) -> None:
    def misconfigured(record: Any) -> None:
        raise ConfigurationError("ENDPOINT_NAME is not set")

    event = sqs_event(s3_test_event(BUCKET), s3_test_event(BUCKET))
    with pytest.raises(ConfigurationError, match="ENDPOINT_NAME is not set"):
        process_batch(event, CONTEXT, misconfigured)


def test_handler_refuses_to_run_without_an_endpoint(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> None:

    monkeypatch.delenv(names.ENV_ENDPOINT_NAME)
    load_settings.cache_clear()
    with pytest.raises(ConfigurationError, match="ENDPOINT_NAME is not set"):
        submit.handler(sqs_event(s3_test_event(BUCKET)), CONTEXT)


def test_the_endpoint_reads_the_version_submitted_even_after_an_overwrite(
    s3: Any, sagemaker: tuple[Any, Invocations], settings: Settings
) -> None:
    """InputLocation names a key, not a version: submit pins the version it checked."""
    client, sent = sagemaker
    long_take = (DATA / "sonnet1.mp3").read_bytes()
    (first,) = parse_s3_notification(json.dumps(upload(s3, "audio/call.mp3", long_take)))
    assert submit.submit_object(first, settings, s3, client).status == "submitted"
    upload(s3, "audio/call.mp3", (DATA / "jfk.mp3").read_bytes())  # overwritten while in flight

    bucket, key = keys.parse_s3_uri(sent.calls[0]["InputLocation"])
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == long_take


def test_records_are_left_for_a_retry_when_the_invocation_is_about_to_time_out(
    s3: Any, sagemaker: tuple[Any, Invocations], settings: Settings
) -> None:
    client, sent = sagemaker
    body = upload(s3, "audio/jfk.mp3", (DATA / "jfk.mp3").read_bytes())
    event = sqs_event(body, body)

    class Ending:
        def get_remaining_time_in_millis(self) -> int:
            return submit.MIN_REMAINING_MS - 1

    response = process_batch(
        event, CONTEXT, lambda r: submit.submit_message(r, settings, s3, client, Ending())
    )
    assert response == {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]]}
    assert sent.calls == [] and not exists(s3, keys.failed_key("jfk.mp3"))  # nothing started, nothing lost
