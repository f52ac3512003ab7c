"""Contract: what ``inference/inference.py`` writes is what the complete function reads.

Runs the endpoint's own four functions (the real Whisper base model, CTranslate2 on CPU) on
a real clip, with the ContentType submit would send for it, stores ``output_fn``'s bytes
where SageMaker would, and feeds the matching notification to complete.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import srt
from lambda_events import async_notification, notification_event
from lambda_support import BUCKET, CONTEXT, ENDPOINT
from twi_lambdas import complete, keys, names
from twi_lambdas.events import format_time
from twi_lambdas.ids import inference_id

from twi_asr.local_model import load_handler

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def entry() -> ModuleType:
    """``inference/inference.py`` loaded by path, ``code/`` first on ``sys.path`` as in the container."""
    return load_handler()


@pytest.fixture(scope="module")
def loaded_model(entry: ModuleType, ct2_model_dir: Path) -> Any:
    return entry.model_fn(str(ct2_model_dir))


@pytest.mark.parametrize("clip", sorted(p.name for p in DATA.iterdir() if p.suffix != ".tsv"))
def test_the_endpoint_accepts_every_content_type_submit_sends(entry: ModuleType, clip: str) -> None:
    content_type = keys.content_type_for_key(clip)
    assert content_type is not None
    request = entry.input_fn((DATA / clip).read_bytes(), content_type)
    assert request.duration > 1.0


def test_output_fn_result_is_read_by_complete(
    entry: ModuleType, loaded_model: Any, s3: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    key = "audio/contract/Kɔfi librivox_0880.wav"
    body = (DATA / "librivox_0880.wav").read_bytes()
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    etag = s3.head_object(Bucket=BUCKET, Key=key)["ETag"]

    content_type = keys.content_type_for_key(key)
    prediction = entry.predict_fn(entry.input_fn(body, str(content_type)), loaded_model)
    out = entry.output_fn(prediction, "application/json")
    output_location = f"s3://{BUCKET}/{names.ASYNC_OUTPUT_PREFIX}contract.out"
    s3.put_object(Bucket=BUCKET, Key=f"{names.ASYNC_OUTPUT_PREFIX}contract.out", Body=out)

    ident = inference_id(BUCKET, key, etag)
    now = datetime.now(UTC)
    message = async_notification(
        "Completed",
        BUCKET,
        key,
        ident,
        output_location,
        ENDPOINT,
        event_time=format_time(now + timedelta(seconds=2)),
        received_time=format_time(now),
    )
    assert complete.handler(notification_event(message), CONTEXT) == {"batchItemFailures": []}

    path = keys.audio_path(key)
    assert path is not None
    doc = json.loads(s3.get_object(Bucket=BUCKET, Key=keys.transcript_key(path))["Body"].read())
    endpoint_result = json.loads(out)
    assert doc["transcript"] == endpoint_result["transcript"]
    assert "young man" in doc["transcript"].lower()  # real speech, really transcribed
    assert doc["metadata"]["rtf"] == endpoint_result["metadata"]["rtf"] > 0
    assert doc["job"]["inference_id"] == ident
    subs = list(
        srt.parse(s3.get_object(Bucket=BUCKET, Key=keys.transcript_key(path, ".srt"))["Body"].read().decode())
    )
    assert subs and " ".join(s.content.replace("\n", " ") for s in subs) == " ".join(
        seg["text"] for seg in endpoint_result["segments"]
    )
    metric = next(json.loads(x) for x in capsys.readouterr().out.splitlines() if '"_aws"' in x)
    assert metric["RTF"] == [endpoint_result["metadata"]["rtf"]]
    assert metric["AudioSeconds"] == [pytest.approx(2.99, abs=0.05)]
    assert 0 < metric["EndToEndSeconds"][0] < 60 and metric["QueueSeconds"] == [2.0]
