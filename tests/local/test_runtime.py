"""The local SageMaker Runtime, reached by boto3's own sagemaker-runtime client (the wire
protocol from botocore's service model), with S3 input/output and SNS notifications in moto.

The container is replaced here by small invokers so that each managed-service behaviour
(202 + locations, .out/-error.out objects, notification fields, timeouts, concurrency limit)
is checked on its own; the real model runs in test_end_to_end.py.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from botocore.exceptions import ClientError
from local_stack_helpers import MotoAws, drain

from twi_asr.local.endpoint import Invoker, LocalAsyncEndpoint
from twi_asr.local.runtime_server import RuntimeServer
from twi_asr.local.wire import split_s3_uri


class ClientMistake(Exception):
    status = 400


def echo(body: bytes, content_type: str, custom_attributes: str, accept: str) -> tuple[bytes, str]:
    """Answers what it was given, so the test sees what reached the container."""
    if body.startswith(b"bad"):
        raise ClientMistake("unsupported audio: could not decode 'bad.mp3' (not audio)")
    document = {"bytes": len(body), "content_type": content_type, "custom_attributes": custom_attributes}
    return json.dumps(document).encode(), accept


@contextmanager
def runtime(
    aws: MotoAws, invoker: Invoker = echo, concurrency: int = 1
) -> Iterator[tuple[Any, RuntimeServer]]:
    endpoint = LocalAsyncEndpoint(
        name=aws.config.endpoint_name,
        region=aws.config.region,
        s3=aws.s3,
        sns=aws.sns,
        invoker=invoker,
        success_topic_arn=aws.resources.success_topic_arn,
        error_topic_arn=aws.resources.error_topic_arn,
        max_concurrent_invocations=concurrency,
    )
    endpoint.start()
    server = RuntimeServer(endpoint, aws.config).start()
    client = aws.server.session(aws.config.region).client("sagemaker-runtime", endpoint_url=server.url)
    try:
        yield client, server
    finally:
        server.stop()
        endpoint.stop()


def notifications(aws: MotoAws, count: int, timeout_s: float = 20) -> list[dict[str, Any]]:
    """The next ``count`` SageMaker notifications from the result queue (SNS envelope opened)."""
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    while len(found) < count and time.monotonic() < deadline:
        for message in drain(aws.sqs, aws.resources.result_queue_url):
            envelope = json.loads(message["Body"])
            found.append({"topic": envelope["TopicArn"], **json.loads(envelope["Message"])})
        time.sleep(0.1)
    return found


def invoke(client: Any, aws: MotoAws, key: str, **params: Any) -> dict[str, Any]:
    response: dict[str, Any] = client.invoke_endpoint_async(
        EndpointName=aws.config.endpoint_name, InputLocation=f"s3://{aws.config.bucket}/{key}", **params
    )
    return response


def read(aws: MotoAws, uri: str) -> bytes:
    bucket, key = split_s3_uri(uri)
    return bytes(aws.s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def test_success_writes_the_output_and_notifies(moto_aws: MotoAws) -> None:
    moto_aws.s3.put_object(Bucket=moto_aws.config.bucket, Key="in/ɔkɔmfo a.wav", Body=b"RIFF....")
    with runtime(moto_aws) as (client, _):
        assert [n["eventName"] for n in notifications(moto_aws, 2)] == ["TestNotification"] * 2
        response = invoke(
            client, moto_aws, "in/ɔkɔmfo a.wav", ContentType="audio/wav", CustomAttributes="language=tw",
            InferenceId="job-1",
        )  # fmt: skip
        (note,) = notifications(moto_aws, 1)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert response["InferenceId"] == "job-1"
    assert response["OutputLocation"].startswith(moto_aws.config.output_path)
    assert response["FailureLocation"].startswith(moto_aws.config.failure_path)
    output = json.loads(read(moto_aws, response["OutputLocation"]))
    assert output == {"bytes": 8, "content_type": "audio/wav", "custom_attributes": "language=tw"}
    assert note["topic"] == moto_aws.resources.success_topic_arn
    assert note["invocationStatus"] == "Completed" and note["eventName"] == "InferenceResult"
    assert note["inferenceId"] == "job-1"
    assert note["requestParameters"] == {
        "contentType": "audio/wav",
        "endpointName": moto_aws.config.endpoint_name,
        "inputLocation": f"s3://{moto_aws.config.bucket}/in/ɔkɔmfo a.wav",
    }
    assert note["responseParameters"] == {
        "contentType": "application/json", "outputLocation": response["OutputLocation"]
    }  # fmt: skip
    assert note["awsRegion"] == moto_aws.config.region and note["eventVersion"] == "1.0"
    assert note["requestId"] == response["ResponseMetadata"]["RequestId"]
    assert note["receivedTime"] <= note["invocationTime"] <= note["eventTime"]


def test_container_errors_and_missing_input_fail_with_a_reason(moto_aws: MotoAws) -> None:
    moto_aws.s3.put_object(Bucket=moto_aws.config.bucket, Key="in/bad.mp3", Body=b"bad bytes")
    with runtime(moto_aws) as (client, _):
        notifications(moto_aws, 2)  # test notifications
        bad = invoke(client, moto_aws, "in/bad.mp3", ContentType="audio/mpeg")
        missing = invoke(client, moto_aws, "in/nothing.mp3")
        notes = {n["inferenceId"]: n for n in notifications(moto_aws, 2)}
    bad_note, missing_note = notes[bad["InferenceId"]], notes[missing["InferenceId"]]
    for note in (bad_note, missing_note):
        assert note["topic"] == moto_aws.resources.error_topic_arn
        assert note["invocationStatus"] == "Failed" and "responseParameters" not in note
    assert bad_note["failureReason"].startswith("ClientError: Received client error (400)")
    assert "unsupported audio: could not decode 'bad.mp3'" in bad_note["failureReason"]
    error_body = json.loads(read(moto_aws, bad["FailureLocation"]))
    message = "unsupported audio: could not decode 'bad.mp3' (not audio)"
    assert error_body == {"code": 400, "type": "ClientMistake", "message": message}
    assert "NoSuchKey" in missing_note["failureReason"]
    assert "in/nothing.mp3" in missing_note["failureReason"]


def test_invalid_requests_get_the_service_errors(moto_aws: MotoAws) -> None:
    with runtime(moto_aws) as (client, server):
        with pytest.raises(ClientError) as caught:
            client.invoke_endpoint_async(EndpointName="no-such-endpoint", InputLocation="s3://b/k")
        assert caught.value.response["Error"]["Code"] == "ValidationError"
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert "Endpoint no-such-endpoint of account" in caught.value.response["Error"]["Message"]
        # botocore checks some bounds itself; the server checks them too (raw HTTP here).
        request = urllib.request.Request(
            f"{server.url}/endpoints/{moto_aws.config.endpoint_name}/async-invocations",
            method="POST",
            data=b"",
            headers={
                "X-Amzn-SageMaker-InputLocation": "s3://b/k",
                "X-Amzn-SageMaker-InvocationTimeoutSeconds": "0",
            },
        )
        with pytest.raises(urllib.error.HTTPError) as http_error:
            urllib.request.urlopen(request, timeout=10)
        assert http_error.value.code == 400
        assert http_error.value.headers["x-amzn-ErrorType"] == "ValidationError"
        assert "invocationTimeoutSeconds" in json.loads(http_error.value.read())["message"]
        assert server.endpoint.snapshot().accepted == 0


def test_invocation_timeout_fails_the_request(moto_aws: MotoAws) -> None:
    def slow(body: bytes, content_type: str, custom_attributes: str, accept: str) -> tuple[bytes, str]:
        time.sleep(3)
        return b"{}", accept

    moto_aws.s3.put_object(Bucket=moto_aws.config.bucket, Key="in/a.wav", Body=b"RIFF")
    with runtime(moto_aws, slow) as (client, _):
        notifications(moto_aws, 2)
        invoke(client, moto_aws, "in/a.wav", InvocationTimeoutSeconds=1)
        (note,) = notifications(moto_aws, 1)
    assert note["invocationStatus"] == "Failed"
    assert "timed out after 1 seconds" in note["failureReason"]


def test_max_concurrent_invocations_is_honoured(moto_aws: MotoAws) -> None:
    lock = threading.Lock()
    running = peak = 0

    def counting(body: bytes, content_type: str, custom_attributes: str, accept: str) -> tuple[bytes, str]:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.4)
        with lock:
            running -= 1
        return b"{}", accept

    moto_aws.s3.put_object(Bucket=moto_aws.config.bucket, Key="in/a.wav", Body=b"RIFF")
    with runtime(moto_aws, counting, concurrency=2) as (client, server):
        notifications(moto_aws, 2)
        for _ in range(6):
            invoke(client, moto_aws, "in/a.wav")
        notes = notifications(moto_aws, 6)
        stats = server.endpoint.snapshot()
    assert [n["invocationStatus"] for n in notes] == ["Completed"] * 6
    assert peak == 2
    assert (stats.accepted, stats.completed, stats.failed, stats.pending) == (6, 6, 0, 0)
