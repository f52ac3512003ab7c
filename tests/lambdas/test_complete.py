"""The complete function against moto: SageMaker notifications (SNS envelopes in SQS) in,
``transcripts/`` and ``failed/`` objects and EMF metric lines out."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
import srt
from botocore.exceptions import ClientError
from lambda_events import async_notification, load, notification_event, s3_put, sns_envelope, sqs_event
from lambda_support import BUCKET, CONTEXT, ENDPOINT, REGION, Invocations, exists
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sagemakerruntime.models import sagemakerruntime_backends
from twi_lambdas import complete, inputs, keys, names, recording, submit
from twi_lambdas.events import parse_async_notification, parse_s3_notification
from twi_lambdas.ids import inference_id
from twi_lambdas.inputs import PinnedUpload
from twi_lambdas.runtime import process_batch
from twi_lambdas.settings import Settings
from twi_lambdas.store import upload_order

from twi_asr.local.event_source import lambda_record

KEY = "audio/greetings/Me din de Kɔfi + ɛna.wav"
PATH = "greetings/Me din de Kɔfi + ɛna.wav"
OUTPUT = f"s3://{BUCKET}/{names.ASYNC_OUTPUT_PREFIX}0f6f2b37-8f0c-4a4e-9d59-3b0b6b1c2d11.out"


OLDER_ID = "1" * 24 + "-" + "e" * 32  # requests of other uploads under the same key
NEWER_ID = "0" * 24 + "-" + "f" * 32


def pin(s3: Any, inference: str, sequencer: str) -> str:
    """The pinned input submit leaves for a request in flight: its metadata names the upload
    (key and S3 event sequencer), which is all complete knows of it."""
    assert inputs.claim(s3, BUCKET, inference, PinnedUpload(KEY, None, upload_order(sequencer)))
    return inference


@pytest.fixture
def uploaded(s3: Any) -> str:
    """A real upload and its deterministic inference id (as submit would make it), in flight."""
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"RIFF....WAVEfmt " + bytes(2000))
    etag = s3.head_object(Bucket=BUCKET, Key=KEY)["ETag"]
    return pin(s3, inference_id(BUCKET, KEY, etag), "0055AED6DCD90281E5")


def endpoint_output(s3: Any, result: dict[str, Any] | None = None, location: str = OUTPUT) -> dict[str, Any]:
    result = result if result is not None else load("async-output")
    bucket, key = keys.parse_s3_uri(location)
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(result).encode(), ContentType="application/json")
    return result


def success(
    inference: str, event_time: str = "2026-01-25T22:46:04.608Z", output: str = OUTPUT
) -> dict[str, Any]:
    return async_notification(
        "Completed",
        BUCKET,
        inputs.input_key(inference),
        inference,
        output_location=output,
        endpoint=ENDPOINT,
        event_time=event_time,
    )


def failure(inference: str, reason: str, event_time: str = "2026-01-25T22:46:02.311Z") -> dict[str, Any]:
    return async_notification(
        "Failed",
        BUCKET,
        inputs.input_key(inference),
        inference,
        endpoint=ENDPOINT,
        event_time=event_time,
        failure_reason=reason,
    )


def finish(message: dict[str, Any], settings: Settings, s3: Any) -> str:
    """What ``complete_notification`` made of one notification, as SNS delivers it."""
    note = parse_async_notification(sns_envelope(message))
    assert note is not None
    return complete.complete_notification(note, settings, s3).status


def read_json(s3: Any, key: str) -> dict[str, Any]:
    obj = s3.get_object(Bucket=BUCKET, Key=key)
    assert obj["ContentType"] == "application/json; charset=utf-8"
    raw = obj["Body"].read()
    assert "ɔ".encode() in raw  # UTF-8, not \\u0254 escapes
    return json.loads(raw.decode("utf-8"))


def emf_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{") and '"_aws"' in line]


def test_success_writes_the_transcript_with_source_job_and_subtitles(
    s3: Any, uploaded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = endpoint_output(s3)
    response = complete.handler(notification_event(success(uploaded)), CONTEXT)

    assert response == {"batchItemFailures": []}
    doc = read_json(s3, "transcripts/greetings/Me din de Kɔfi + ɛna.wav.json")
    assert doc["transcript"] == result["transcript"] == "Me din de Kɔfi. Ɛna wo nso ɛ?"
    assert doc["segments"] == result["segments"]
    assert doc["metadata"]["rtf"] == 0.1
    assert doc["source"]["bucket"] == BUCKET and doc["source"]["key"] == KEY
    assert doc["source"]["size"] == 2016 and doc["source"]["etag"] in uploaded
    assert doc["job"]["inference_id"] == uploaded
    assert doc["job"]["endpoint"] == ENDPOINT
    assert doc["job"]["submitted_at"] == "2026-01-25T22:45:59.455Z"
    assert doc["job"]["completed_at"] == "2026-01-25T22:46:04.608Z"
    assert doc["job"]["queue_sec"] == 5.153
    assert isinstance(doc["job"]["end_to_end_sec"], float)

    srt_text = s3.get_object(Bucket=BUCKET, Key=keys.transcript_key(PATH, ".srt"))["Body"].read().decode()
    subs = list(srt.parse(srt_text))
    assert [s.content for s in subs] == ["Me din de Kɔfi.", "Ɛna wo nso ɛ?"]
    assert subs[1].start.total_seconds() == 2.4 and subs[1].end.total_seconds() == 4.1
    vtt = s3.get_object(Bucket=BUCKET, Key=keys.transcript_key(PATH, ".vtt"))
    assert vtt["ContentType"] == "text/vtt; charset=utf-8"
    assert vtt["Body"].read().decode().startswith("WEBVTT\n\n00:00:00.000 --> 00:00:02.400\nMe din de Kɔfi.")

    (metric,) = emf_lines(capsys.readouterr().out)  # one EMF document per record
    assert metric["EndpointName"] == ENDPOINT and metric["RTF"] == [0.1] and metric["AudioSeconds"] == [4.1]
    assert metric["ProcessingSeconds"] == [0.41] and metric["Transcripts"] == [1]
    assert metric["key"] == KEY and metric["inference_id"] == uploaded
    (definition,) = metric["_aws"]["CloudWatchMetrics"]
    assert definition["Namespace"] == names.METRICS_NAMESPACE
    assert definition["Dimensions"] == [["EndpointName"]]  # what the dashboard and alarms read
    assert {"Name": "RTF", "Unit": "None"} in definition["Metrics"]
    assert {"Name": "QueueSeconds", "Unit": "Seconds"} in definition["Metrics"]
    assert metric["SpeechSeconds"] == [3.6] and metric["UncoveredSpeechSeconds"] == [0.0]


def test_speech_left_without_text_is_counted(
    s3: Any, uploaded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """metadata.uncovered_speech, summed, becomes UncoveredSpeechSeconds (the dashboard's line
    of speech left without text); a result without the VAD's figures adds neither."""
    result = load("async-output")
    result["metadata"]["uncovered_speech"] = [{"start": 1.0, "end": 2.25}, {"start": 3.0, "end": 4.0}]
    endpoint_output(s3, result)
    assert complete.handler(notification_event(success(uploaded)), CONTEXT) == {"batchItemFailures": []}
    (metric,) = emf_lines(capsys.readouterr().out)
    assert metric["UncoveredSpeechSeconds"] == [2.25] and metric["SpeechSeconds"] == [3.6]

    # without the VAD's figures (VAD off, an older endpoint) neither is emitted
    del result["metadata"]["speech_sec"]
    assert recording._uncovered_seconds(result) is None


def test_failure_writes_a_readable_failed_record(
    s3: Any, uploaded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    reason = (
        "ClientError: unsupported audio: could not decode 'Me din de Kɔfi + ɛna.wav' (ffmpeg: invalid data)"
    )
    response = complete.handler(notification_event(failure(uploaded, reason)), CONTEXT)

    assert response == {"batchItemFailures": []}
    doc = read_json(s3, keys.failed_key(PATH))
    assert doc["status"] == "failed" and doc["stage"] == "endpoint"
    assert doc["reason"] == f"the endpoint could not transcribe 'Me din de Kɔfi + ɛna.wav': {reason}"
    assert doc["inference_id"] == uploaded
    assert doc["source"]["key"] == KEY
    assert not exists(s3, keys.transcript_key(PATH))
    (metric,) = emf_lines(capsys.readouterr().out)
    assert metric["Failures"] == [1]


def test_a_duplicate_notification_changes_nothing(
    s3: Any, uploaded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint_output(s3)
    event = notification_event(success(uploaded))
    assert complete.handler(event, CONTEXT) == {"batchItemFailures": []}
    first = s3.head_object(Bucket=BUCKET, Key=keys.transcript_key(PATH))

    assert complete.handler(event, CONTEXT) == {"batchItemFailures": []}
    again = s3.head_object(Bucket=BUCKET, Key=keys.transcript_key(PATH))
    assert again["ETag"] == first["ETag"] and again["LastModified"] == first["LastModified"]
    assert len(emf_lines(capsys.readouterr().out)) == 1  # counted once


@pytest.mark.parametrize("newer_first", [True, False])
def test_the_newest_upload_wins_whatever_finishes_last(
    s3: Any, uploaded: str, settings: Settings, newer_first: bool
) -> None:
    """Ordered by the uploads' S3 sequencers, never by completion: a long recording overwritten
    by a short one finishes last, and must not replace the short one's transcript."""
    newer_output = OUTPUT.replace(".out", "-newer.out")
    endpoint_output(s3, {**load("async-output"), "transcript": "newer"}, newer_output)
    endpoint_output(s3, {**load("async-output"), "transcript": "older"})
    newer = pin(s3, NEWER_ID, "0055AED6DCD90281E6")  # one event later on the same key
    # the older upload's request completes later, and its notification says so
    older_done = success(uploaded, "2026-01-25T23:30:00.000Z")
    newer_done = success(newer, "2026-01-25T23:00:00.000Z", newer_output)
    if newer_first:
        assert finish(newer_done, settings, s3) == "transcribed"
        assert finish(older_done, settings, s3) == "stale"
    else:
        assert finish(older_done, settings, s3) == "transcribed"
        assert finish(newer_done, settings, s3) == "transcribed"
    assert read_json(s3, keys.transcript_key(PATH))["transcript"] == "newer"
    assert not exists(s3, inputs.input_key(uploaded)) and not exists(s3, inputs.input_key(newer))
    srt_text = s3.get_object(Bucket=BUCKET, Key=keys.transcript_key(PATH, ".srt"))["Body"].read().decode()
    assert "Kɔfi" in srt_text  # subtitles follow the same rule


def test_a_later_success_clears_an_earlier_failure(s3: Any, uploaded: str, settings: Settings) -> None:
    endpoint_output(s3)
    assert finish(failure(uploaded, "ModelNotReady", "2026-01-25T22:40:00.000Z"), settings, s3) == "failed"
    assert exists(s3, keys.failed_key(PATH))
    pin(s3, uploaded, "0055AED6DCD90281E5")  # submitted again (the reconciler, a redrive)
    assert finish(success(uploaded), settings, s3) == "transcribed"
    assert not exists(s3, keys.failed_key(PATH))


def test_test_notifications_and_poison_in_one_batch(s3: Any, uploaded: str) -> None:
    endpoint_output(s3)
    test_body = load("sqs-sns-async-test-notification")["Records"][0]["body"]
    event = sqs_event(
        test_body,
        "not json at all",
        json.dumps({"Type": "Notification", "Message": json.dumps({"invocationStatus": "Weird"})}),
        sns_envelope(success(uploaded)),
        template="sqs-sns-async-success",
    )
    response = complete.handler(event, CONTEXT)
    ids = [r["messageId"] for r in event["Records"]]
    assert response == {"batchItemFailures": [{"itemIdentifier": ids[1]}, {"itemIdentifier": ids[2]}]}
    assert exists(s3, keys.transcript_key(PATH))


def test_a_missing_or_unusable_output_ends_as_a_failed_record(
    s3: Any, uploaded: str, settings: Settings
) -> None:
    assert finish(success(uploaded), settings, s3) == "failed"
    assert "no longer exists" in read_json(s3, keys.failed_key(PATH))["reason"]

    endpoint_output(s3, {"text": "not our shape"}, OUTPUT.replace(".out", "-2.out"))
    reupload = pin(s3, NEWER_ID, "0055AED6DCD90281E6")
    bad = success(reupload, "2026-01-25T22:50:00.000Z", OUTPUT.replace(".out", "-2.out"))
    assert finish(bad, settings, s3) == "failed"
    doc = read_json(s3, keys.failed_key(PATH))
    assert (
        doc["reason"]
        == "the endpoint returned an unusable result: the endpoint output has no 'transcript' string"
    )
    assert doc["stage"] == "complete"


def test_results_of_direct_calls_on_other_inputs_are_left_alone(s3: Any, settings: Settings) -> None:
    message = async_notification("Completed", BUCKET, "scratch/a.wav", "abc", output_location=OUTPUT)
    assert finish(message, settings, s3) == "ignored"
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


def test_flow_through_moto_submit_sns_sqs_complete(
    s3: Any, sagemaker: tuple[Any, Invocations], settings: Settings
) -> None:
    """submit -> moto's InvokeEndpointAsync (which stores a configured result at its
    OutputLocation) -> a notification published on a real moto SNS topic -> delivered to a
    moto SQS queue -> complete, with the very message bodies SQS hands out."""
    client, sent = sagemaker
    result = load("async-output")
    sagemakerruntime_backends[DEFAULT_ACCOUNT_ID][REGION].async_results_queue.append(
        (False, json.dumps(result))
    )
    key = "audio/voice notes/ɔkyeame.ogg"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"OggS" + bytes(600))
    head = s3.head_object(Bucket=BUCKET, Key=key)
    (obj,) = parse_s3_notification(json.dumps(s3_put(BUCKET, key, head["ContentLength"], head["ETag"])))
    submitted = submit.submit_object(obj, settings, s3, client)
    assert submitted.status == "submitted" and submitted.output_location

    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    topic = sns.create_topic(Name="success-topic")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="result-queue")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    message = async_notification(
        "Completed", BUCKET, key, sent.calls[0]["InferenceId"], submitted.output_location, ENDPOINT
    )
    sns.publish(TopicArn=topic, Message=json.dumps(message, ensure_ascii=False))
    received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"])[
        "Messages"
    ]
    event = {"Records": [lambda_record(m, queue_arn, REGION) for m in received]}
    assert complete.handler(event, CONTEXT) == {"batchItemFailures": []}
    doc = read_json(s3, "transcripts/voice notes/ɔkyeame.ogg.json")
    assert doc["transcript"] == result["transcript"]
    assert doc["job"]["inference_id"] == sent.calls[0]["InferenceId"]
    assert doc["source"]["etag"] == head["ETag"].strip('"')


def test_a_failure_of_an_older_request_does_not_sit_beside_a_newer_transcript(
    s3: Any, uploaded: str, settings: Settings
) -> None:
    endpoint_output(s3)
    assert finish(success(uploaded, "2026-01-25T23:00:00.000Z"), settings, s3) == "transcribed"
    late_failure = failure(pin(s3, OLDER_ID, "0055AED6DCD90281E4"), "timeout", "2026-01-25T22:50:00.000Z")
    assert finish(late_failure, settings, s3) == "stale"
    assert not exists(s3, keys.failed_key(PATH))


def test_the_endpoint_error_body_is_kept_as_detail(s3: Any, uploaded: str, settings: Settings) -> None:
    error_key = f"{names.ASYNC_FAILURE_PREFIX}0f6f2b37-error.out"
    s3.put_object(Bucket=BUCKET, Key=error_key, Body="unsupported audio: 'Kɔfi.wav' is empty".encode())
    message = async_notification(
        "Failed",
        BUCKET,
        inputs.input_key(uploaded),
        uploaded,
        endpoint=ENDPOINT,
        failure_reason="ClientError",
    )
    message["responseParameters"] = {"failureLocation": f"s3://{BUCKET}/{error_key}"}
    assert finish(message, settings, s3) == "failed"
    doc = read_json(s3, keys.failed_key(PATH))
    assert doc["detail"] == "unsupported audio: 'Kɔfi.wav' is empty"


def test_the_last_delivery_of_a_result_that_cannot_be_stored_leaves_a_failed_record(
    s3: Any, uploaded: str, settings: Settings
) -> None:
    endpoint_output(s3)

    def unavailable(params: dict[str, Any], **_: Any) -> None:
        if params["Key"].startswith(names.ASYNC_OUTPUT_PREFIX):
            raise ClientError(
                {"Error": {"Code": "ServiceUnavailable"}, "ResponseMetadata": {"HTTPStatusCode": 503}},
                "GetObject",
            )

    s3.meta.events.register("provide-client-params.s3.GetObject", unavailable)
    for receive_count in (1, names.MAX_RECEIVE_COUNT):
        event = notification_event(success(uploaded), receive_count)
        response = process_batch(event, CONTEXT, lambda r: complete.complete_message(r, settings, s3))
        assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
        assert exists(s3, keys.failed_key(PATH)) == (receive_count == names.MAX_RECEIVE_COUNT)
    doc = read_json(s3, keys.failed_key(PATH))
    assert doc["stage"] == "complete" and doc["inference_id"] == uploaded
    assert doc["reason"].startswith(
        f"the transcript could not be stored after {names.MAX_RECEIVE_COUNT} attempts: "
    )
    assert "ServiceUnavailable" in doc["reason"]
