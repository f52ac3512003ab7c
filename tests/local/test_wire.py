"""InvokeEndpointAsync request validation, as a pure function (no socket, no AWS)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from twi_asr.local import wire
from twi_asr.local.wire import AsyncInvocation, WireError, iso_time, parse_async_invocation

ENDPOINT = "twi-asr-local"
PATH = f"/endpoints/{ENDPOINT}/async-invocations"
OUT = "s3://bucket/async-output/"
FAIL = "s3://bucket/async-failures/"


def parse(path: str = PATH, **headers: str) -> AsyncInvocation:
    lower = {k.lower(): v for k, v in headers.items()}
    return parse_async_invocation(
        path,
        lambda name: lower.get(name.lower()),
        endpoint_name=ENDPOINT,
        account_id="123456789012",
        output_path=OUT,
        failure_path=FAIL,
        default_invocation_timeout_s=900,
    )


def headers(**extra: str) -> dict[str, str]:
    base = {wire.H_INPUT_LOCATION: "s3://bucket/audio/a b/ɔ.mp3"}
    base.update(extra)
    return base


def test_full_request_is_parsed_and_locations_decided() -> None:
    inv = parse(
        **headers(
            **{
                wire.H_CONTENT_TYPE: "audio/mpeg",
                wire.H_ACCEPT: "application/json",
                wire.H_CUSTOM_ATTRIBUTES: "language=tw;task=transcribe",
                wire.H_INFERENCE_ID: "abc-123",
                wire.H_REQUEST_TTL: "600",
                wire.H_INVOCATION_TIMEOUT: "120",
            }
        )
    )
    assert (inv.input_bucket, inv.input_key) == ("bucket", "audio/a b/ɔ.mp3")
    assert inv.content_type == "audio/mpeg" and inv.custom_attributes == "language=tw;task=transcribe"
    assert inv.inference_id == "abc-123"
    assert (inv.request_ttl_s, inv.invocation_timeout_s) == (600, 120)
    # The output object is named by a fresh UUID, not the inference id (as SageMaker does).
    name = inv.output_location.removeprefix(OUT).removesuffix(".out")
    assert re.fullmatch(r"[0-9a-f-]{36}", name)
    assert inv.failure_location == f"{FAIL}{name}-error.out"


def test_defaults_when_optional_headers_are_absent() -> None:
    inv = parse(**headers())
    assert inv.content_type == wire.DEFAULT_CONTENT_TYPE
    assert inv.accept == wire.DEFAULT_ACCEPT
    assert inv.request_ttl_s == wire.DEFAULT_REQUEST_TTL_S
    assert inv.invocation_timeout_s == 900
    assert re.fullmatch(r"[0-9a-f-]{36}", inv.inference_id)  # generated when not given


def test_output_path_extension_and_filename() -> None:
    inv = parse(**headers(**{wire.H_OUTPUT_PATH_EXTENSION: "calls/2026", wire.H_FILENAME: "result1"}))
    assert inv.output_location == f"{OUT}calls/2026/result1.out"
    assert inv.failure_location == f"{FAIL}calls/2026/result1-error.out"


@pytest.mark.parametrize(
    ("path", "extra", "code", "words"),
    [
        ("/endpoints/other/async-invocations", {}, "ValidationError", "Endpoint other of account"),
        (f"/endpoints/{ENDPOINT}/invocations", {}, "ValidationError", "not supported on an asynchronous"),
        ("/nothing-here", {}, "UnknownOperationException", "no SageMaker Runtime operation"),
        (PATH, {wire.H_INPUT_LOCATION: "bucket/key"}, "ValidationError", "inputLocation"),
        (PATH, {wire.H_INPUT_LOCATION: ""}, "ValidationError", "inputLocation"),
        (PATH, {wire.H_CUSTOM_ATTRIBUTES: "x" * 1025}, "ValidationError", "customAttributes"),
        (PATH, {wire.H_CUSTOM_ATTRIBUTES: "language=ɛ"}, "ValidationError", "customAttributes"),
        (PATH, {wire.H_INFERENCE_ID: "x" * 65}, "ValidationError", "inferenceId"),
        (PATH, {wire.H_INFERENCE_ID: " leading"}, "ValidationError", "inferenceId"),
        (PATH, {wire.H_REQUEST_TTL: "59"}, "ValidationError", "requestTTLSeconds"),
        (PATH, {wire.H_REQUEST_TTL: "soon"}, "ValidationError", "not an integer"),
        (PATH, {wire.H_INVOCATION_TIMEOUT: "3601"}, "ValidationError", "between 1 and 3600"),
        (PATH, {wire.H_OUTPUT_PATH_EXTENSION: "s3://x"}, "ValidationError", "s3OutputPathExtension"),
        (PATH, {wire.H_FILENAME: "a.b.c"}, "ValidationError", "filename"),
    ],
)
def test_bad_requests_are_rejected_with_the_reason(
    path: str, extra: dict[str, str], code: str, words: str
) -> None:
    with pytest.raises(WireError) as caught:
        parse(path, **headers(**extra))
    assert caught.value.code == code
    assert caught.value.status == (404 if code == "UnknownOperationException" else 400)
    assert words in caught.value.message


def test_iso_time_matches_sagemaker_notifications() -> None:
    moment = datetime(2022, 1, 25, 22, 46, 0, 608000, tzinfo=UTC)
    assert iso_time(moment) == "2022-01-25T22:46:00.608Z"
