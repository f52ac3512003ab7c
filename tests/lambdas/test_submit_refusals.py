"""Cheap refusals at submit (issue 13): an upload key S3 accepts but whose result keys it would
not (``transcripts/<path>.json`` is 11 bytes longer) is refused with a log line and a metric,
not submitted, and not retried into the DLQ. moto does not enforce S3's 1024-byte key limit,
so these tests check the bytes themselves.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lambda_events import s3_put, sqs_event
from lambda_support import BUCKET, CONTEXT, ENDPOINT, Invocations, source_of
from twi_lambdas import keys, names, submit

DATA = Path(__file__).resolve().parents[1] / "data"


def key_of(size: int) -> str:
    """An upload key of exactly ``size`` UTF-8 bytes, with two-byte Twi letters in it."""
    head, tail = "audio/Kɔfi ne Ama/", ".mp3"
    room = size - len((head + tail).encode("utf-8"))
    key = head + "ɔ" * (room // 2) + "a" * (room % 2) + tail
    assert len(key.encode("utf-8")) == size
    return key


def json_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_result_keys_are_11_bytes_longer_than_the_upload_key() -> None:
    fits, too_long = keys.audio_path(key_of(1013)), keys.audio_path(key_of(1014))
    assert fits is not None and too_long is not None
    assert keys.longest_result_key_bytes(fits) == 1013 + 11 == keys.MAX_KEY_BYTES
    assert keys.result_keys_fit(fits)
    assert not keys.result_keys_fit(too_long)
    assert keys.result_keys(fits) == [
        keys.transcript_key(fits),
        keys.transcript_key(fits, names.SRT_SUFFIX),
        keys.transcript_key(fits, names.VTT_SUFFIX),
        keys.failed_key(fits),
    ]


@pytest.mark.parametrize("size", [1014, 1024])
def test_a_key_too_long_for_its_results_is_refused_logged_and_counted(
    size: int,
    s3: Any,
    lambda_invocations: Invocations,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = (DATA / "jfk.mp3").read_bytes()
    long_key, fitting_key = key_of(size), key_of(1013)
    events = []
    for key in (long_key, fitting_key):
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        etag = s3.head_object(Bucket=BUCKET, Key=key)["ETag"]
        events.append(s3_put(BUCKET, key, len(body), etag))
    capsys.readouterr()

    response = submit.handler(sqs_event(*events), CONTEXT)

    assert response == {"batchItemFailures": []}  # acknowledged: nothing for the DLQ
    assert [source_of(s3, c) for c in lambda_invocations.calls] == [fitting_key]
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=names.FAILED_PREFIX)["KeyCount"] == 0
    lines = json_lines(capsys.readouterr().out)
    refused = [x for x in lines if names.METRIC_KEY_TOO_LONG in x]
    assert len(refused) == 1 and refused[0][names.METRIC_KEY_TOO_LONG] == [1.0]
    assert refused[0]["EndpointName"] == ENDPOINT and refused[0]["key"] == long_key
    (definition,) = refused[0]["_aws"]["CloudWatchMetrics"]
    assert definition["Dimensions"] == [["EndpointName"]]
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warning.startswith(f"refused s3://{BUCKET}/{long_key}: key too long: ")
    assert f"{size + 11}-byte key, over the 1024 bytes S3 allows" in warning
