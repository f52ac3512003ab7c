"""The unchanged handlers against moto in server mode, reached through ``AWS_ENDPOINT_URL``
as the offline local stack runs them: real HTTP, real headers (a Twi key in the
InputLocation header included), no in-process mocking of botocore."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from lambda_events import async_notification, notification_event, s3_put, sqs_event
from lambda_support import BUCKET, CONTEXT, ENDPOINT, Invocations, source_of
from moto.server import ThreadedMotoServer
from twi_contract import unpack_batch
from twi_lambdas import aws, complete, inputs, keys, submit

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture
def moto_server(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        yield url
    finally:
        server.stop()


def test_submit_then_complete_over_http(moto_server: str) -> None:
    s3: Any = boto3.client("s3")  # endpoint from AWS_ENDPOINT_URL, like the handlers' clients
    s3.create_bucket(Bucket=BUCKET)
    key = "audio/Ɛnnɛ/Kɔfi ne Ama + nnɛ.mp3"
    s3.put_object(
        Bucket=BUCKET, Key=key, Body=(DATA / "twi_36831073.mp3").read_bytes(), Metadata={"task": "transcribe"}
    )
    head = s3.head_object(Bucket=BUCKET, Key=key)

    sent = Invocations()
    aws.sagemaker_runtime_client().meta.events.register(
        "provide-client-params.sagemaker-runtime.InvokeEndpointAsync", sent.capture
    )
    assert aws.sagemaker_runtime_client().meta.endpoint_url == moto_server
    event = sqs_event(s3_put(BUCKET, key, head["ContentLength"], head["ETag"]))
    assert submit.handler(event, CONTEXT) == {"batchItemFailures": []}
    (call,) = sent.calls
    assert source_of(s3, call) == key
    assert call["ContentType"] == "audio/mpeg" and call["EndpointName"] == ENDPOINT

    output = "async-output/over-http.out"
    result = {
        "transcript": "Dɛn na Bible ka wɔ ho?",
        "language": "tw",
        "segments": [{"start": 0.0, "end": 4.7, "text": "Dɛn na Bible ka wɔ ho?"}],
        "metadata": {"audio_duration_sec": 4.723, "processing_time_sec": 0.5, "rtf": 0.5 / 4.723},
    }
    s3.put_object(Bucket=BUCKET, Key=output, Body=json.dumps(result, ensure_ascii=False).encode())
    message = async_notification(
        "Completed", BUCKET, key, call["InferenceId"], f"s3://{BUCKET}/{output}", ENDPOINT
    )
    assert complete.handler(notification_event(message), CONTEXT) == {"batchItemFailures": []}
    path = keys.audio_path(key)
    assert path is not None
    doc = json.loads(
        s3.get_object(Bucket=BUCKET, Key=keys.transcript_key(path))["Body"].read().decode("utf-8")
    )
    assert doc["transcript"] == "Dɛn na Bible ka wɔ ho?"
    assert doc["source"]["key"] == key and doc["source"]["size"] == head["ContentLength"]
    vtt = s3.get_object(Bucket=BUCKET, Key=keys.transcript_key(path, ".vtt"))["Body"].read().decode("utf-8")
    assert "00:00:00.000 --> 00:00:04.700\nDɛn na Bible ka wɔ ho?" in vtt


def test_a_coalesced_request_over_http(moto_server: str) -> None:
    """Short uploads in one invocation: read by version with If-Match, packed, sent as one
    request, answered item by item, fanned out into a transcript each."""
    s3: Any = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    uploads = {"audio/Ɛnnɛ/Kɔfi.mp3": "twi_34997394.mp3", "audio/Ɛnnɛ/Ama + Yaw.mp3": "twi_36831073.mp3"}
    bodies = []
    for key, clip in uploads.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=(DATA / clip).read_bytes(), Metadata={"language": "tw"})
        head = s3.head_object(Bucket=BUCKET, Key=key)
        event = s3_put(BUCKET, key, head["ContentLength"], head["ETag"])
        event["Records"][0]["s3"]["object"]["versionId"] = head["VersionId"]
        bodies.append(event)
    sent = Invocations()
    aws.sagemaker_runtime_client().meta.events.register(
        "provide-client-params.sagemaker-runtime.InvokeEndpointAsync", sent.capture
    )
    assert submit.handler(sqs_event(*bodies), CONTEXT) == {"batchItemFailures": []}
    (call,) = sent.calls
    bucket, input_key = keys.parse_s3_uri(call["InputLocation"])
    items = unpack_batch(s3.get_object(Bucket=bucket, Key=input_key)["Body"].read())
    assert [i.body for i in items] == [(DATA / clip).read_bytes() for clip in uploads.values()]

    output = "async-output/coalesced.out"
    answer = {
        "items": [
            {"id": item.id, "result": {"transcript": f"{n}", "segments": [], "metadata": {"rtf": 0.1}}}
            for n, item in enumerate(items)
        ]
    }
    s3.put_object(Bucket=BUCKET, Key=output, Body=json.dumps(answer).encode())
    message = async_notification(
        "Completed", BUCKET, input_key, call["InferenceId"], f"s3://{BUCKET}/{output}", ENDPOINT
    )
    assert complete.handler(notification_event(message), CONTEXT) == {"batchItemFailures": []}
    for n, key in enumerate(uploads):
        path = keys.audio_path(key)
        assert path is not None
        doc = json.loads(s3.get_object(Bucket=BUCKET, Key=keys.transcript_key(path))["Body"].read())
        assert doc["transcript"] == f"{n}" and doc["job"]["batch_id"] == call["InferenceId"]
    left = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="async-input/").get("Contents", [])}
    assert not left & {input_key, *(inputs.input_key(item.id) for item in items)}  # released, deleted
