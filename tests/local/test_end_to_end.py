"""The whole flow on the local stack with the code that ships: S3 upload -> SQS -> submit
Lambda -> InvokeEndpointAsync -> inference.py (real Whisper base, CTranslate2) -> SNS -> SQS ->
complete Lambda -> ``transcripts/<path>.json``. One stack for the module (model loaded once).
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from local_stack_helpers import drain
from twi_contract import BatchKeys
from twi_lambdas import names

from twi_asr.local.config import SUBMIT_FUNCTION, LocalConfig
from twi_asr.local.stack import LocalStack
from twi_asr.scoring import word_error_rate

# Several formats uploaded together, and a Twi file name with ɛ/ɔ, a space and a '+'.
# WER bounds: measured with Whisper base (CTranslate2 int8, CPU) on 2026-11-25 (in brackets),
# plus head room for decoding differences across CPUs. The sonnet's 0.333 is "One." -> "1.",
# "increase" -> "and crease", "beauty's" -> "beauties" and the reference's cut-off last "But".
UPLOADS: dict[str, tuple[str, float | None]] = {
    # [0.125]: one word of eight, "ill-sposed" or "ill-disposed" as the last bit moves (one
    # bit of dither, a shift by one sample; the endpoint removing the clip's DC offset)
    "audio/e2e/librivox_0880.wav": ("librivox_0880.wav", 0.15),
    "audio/e2e/jfk.opus": ("jfk.opus", 0.1),  # [0.0]
    "audio/e2e/sonnet1.mp3": ("sonnet1.mp3", 0.4),  # [0.333]
    "audio/e2e/sonnet1.m4a": ("sonnet1.m4a", 0.4),  # [0.333]
    "audio/e2e/sonnet1.ogg": ("sonnet1.ogg", 0.4),  # [0.333]
    "audio/e2e/Twi nsɛm/Dɛn na ɛno bɛkyerɛ+ɔ.mp3": ("twi_34997394.mp3", None),  # base has no Twi
}
CORRUPT_KEY = "audio/e2e/corrupt recording.mp3"
RESULT_TIMEOUT_S = 240.0


@pytest.fixture(scope="module")
def stack(ct2_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    workdir = tmp_path_factory.mktemp("local-stack")
    with LocalStack(model_dir=ct2_model_dir, workdir=workdir, config=LocalConfig()) as running:
        yield running


def lambda_logs(stack: LocalStack) -> str:
    """The functions' output, for assertion messages."""
    return "\n".join(
        p.read_text(encoding="utf-8")[-3000:] for p in sorted((stack.workdir / "logs").glob("*.log"))
    )


def result_key(audio_key: str, failed: bool = False) -> str:
    prefix = names.FAILED_PREFIX if failed else names.TRANSCRIPTS_PREFIX
    return f"{prefix}{audio_key[len(names.AUDIO_PREFIX) :]}.json"


@pytest.fixture(scope="module")
def results(stack: LocalStack, data_clips: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Upload everything at once, then wait for every result document."""
    for key, (clip, _) in UPLOADS.items():
        stack.upload(data_clips[clip].path, key)
    corrupt = random.Random(7).randbytes(6000)
    stack.s3.put_object(Bucket=stack.bucket, Key=CORRUPT_KEY, Body=corrupt)
    found = {}
    for key in [*UPLOADS, CORRUPT_KEY]:
        try:
            found[key] = stack.wait_for_result(key, RESULT_TIMEOUT_S)
        except TimeoutError as exc:
            pytest.fail(f"{exc}\n{lambda_logs(stack)}")
    return found


@pytest.mark.parametrize("key", list(UPLOADS))
def test_each_upload_gets_its_transcript(
    key: str, results: dict[str, tuple[str, dict[str, Any]]], data_clips: dict[str, Any], stack: LocalStack
) -> None:
    where, document = results[key]
    assert where == result_key(key), f"{key} failed: {document}"
    clip_name, max_wer = UPLOADS[key]
    clip = data_clips[clip_name]
    assert document["source"]["key"] == key  # the decoded key, ɛ/ɔ/space/+ intact
    assert document["source"]["bucket"] == stack.bucket
    assert document["source"]["size"] == clip.path.stat().st_size
    metadata = document["metadata"]
    assert metadata["engine"] == "ctranslate2" and metadata["device"] == "cpu"
    assert metadata["audio_duration_sec"] == pytest.approx(clip.duration_s, abs=0.15)
    assert metadata["rtf"] == pytest.approx(
        metadata["processing_time_sec"] / metadata["audio_duration_sec"], rel=1e-2
    )
    assert 0 < metadata["rtf"] < 5
    assert document["job"]["endpoint"] == stack.config.endpoint_name
    assert document["segments"] and all(s["end"] >= s["start"] for s in document["segments"])
    if max_wer is not None:
        wer = word_error_rate(clip.reference, document["transcript"]).wer
        assert wer <= max_wer, f"{key}: WER {wer:.3f} > {max_wer}: {document['transcript']!r}"
    else:
        assert isinstance(document["transcript"], str)


def test_a_corrupt_file_fails_with_a_readable_reason(results: dict[str, tuple[str, dict[str, Any]]]) -> None:
    where, document = results[CORRUPT_KEY]
    assert where == result_key(CORRUPT_KEY, failed=True)
    reason = document["reason"]
    assert "corrupt recording.mp3" in reason
    assert re.search(r"audio|decode", reason, re.IGNORECASE), reason
    assert "Traceback" not in reason


def test_writes_outside_audio_trigger_nothing(stack: LocalStack, data_clips: dict[str, Any]) -> None:
    stack.wait_until_idle()
    before_records = stack.sources[SUBMIT_FUNCTION].stats.records
    assert stack.endpoint is not None
    before_invocations = stack.endpoint.snapshot().accepted
    for key in ("transcripts/e2e/manual.mp3", "failed/e2e/manual.mp3", "async-output/manual.mp3"):
        stack.upload(data_clips["jfk.mp3"].path, key)
    time.sleep(3)  # long enough for a notification to be delivered and handled
    stack.wait_until_idle()
    assert stack.sources[SUBMIT_FUNCTION].stats.records == before_records
    assert stack.endpoint.snapshot().accepted == before_invocations
    assert stack.get_json("transcripts/e2e/manual.mp3.json") is None


def test_the_same_object_twice_yields_one_consistent_result(
    stack: LocalStack, data_clips: dict[str, Any]
) -> None:
    key = "audio/e2e/twice.mp3"
    clip = data_clips["jfk.mp3"]
    stack.upload(clip.path, key)
    _, first = stack.wait_for_result(key, RESULT_TIMEOUT_S)
    stack.upload(clip.path, key)  # same bytes: same ETag, a new version and a new S3 event
    stack.wait_until_idle(RESULT_TIMEOUT_S)
    second = stack.get_json(result_key(key))
    assert second is not None
    assert stack.get_json(result_key(key, failed=True)) is None
    assert second["transcript"] == first["transcript"]
    assert second["source"]["etag"] == first["source"]["etag"]
    assert word_error_rate(clip.reference, second["transcript"]).wer <= 0.1
    listed = stack.s3.list_objects_v2(Bucket=stack.bucket, Prefix=result_key(key))["Contents"]
    assert [o["Key"] for o in listed] == [result_key(key)]


def test_a_poison_message_reaches_the_dlq(stack: LocalStack) -> None:
    assert stack.resources is not None
    poison = "this is not an S3 event notification"
    stack.sqs.send_message(QueueUrl=stack.resources.submit_queue_url, MessageBody=poison)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        depth = stack.queue_depths()[stack.config.queue_name(names.SUBMIT_DLQ)]
        if depth:
            break
        time.sleep(0.5)
    (dead,) = drain(stack.sqs, stack.resources.submit_dlq_url)
    assert dead["Body"] == poison
    assert int(dead["Attributes"]["ApproximateReceiveCount"]) >= stack.config.max_receive_count


def test_short_uploads_that_arrived_together_shared_a_request(
    stack: LocalStack, results: dict[str, tuple[str, dict[str, Any]]]
) -> None:
    """Uploaded at once, all under the stack's coalesce_max_file_bytes: the submit Lambda sent
    them in coalesced requests (how many depends on how SQS cut its batches), and each file
    still got its own transcript, with its own request id (see test_each_upload_...)."""
    coalesced = [doc["job"] for where, doc in results.values() if doc.get("job", {}).get("batch_id")]
    assert coalesced, lambda_logs(stack)
    assert len({job["inference_id"] for job in coalesced}) == len(coalesced)
    stack.wait_until_idle()
    for prefix in (names.UPLOAD_INPUT_PREFIX, names.BATCH_INPUT_PREFIX):  # claims released, inputs deleted
        assert stack.s3.list_objects_v2(Bucket=stack.bucket, Prefix=prefix)["KeyCount"] == 0


def test_nothing_is_left_in_any_queue(stack: LocalStack, results: dict[str, Any]) -> None:
    stack.wait_until_idle()
    assert stack.queue_depths() == dict.fromkeys(stack.queue_depths(), 0), lambda_logs(stack)
    # The creation-time test notifications and s3:TestEvent were consumed, not dead-lettered.
    for source in stack.sources.values():
        assert source.stats.errors == 0, lambda_logs(stack)


def test_the_endpoint_output_matches_the_transcript(
    stack: LocalStack, results: dict[str, tuple[str, dict[str, Any]]]
) -> None:
    _, document = results["audio/e2e/jfk.opus"]
    bucket, key = document["job"]["output_location"].removeprefix("s3://").split("/", 1)
    assert key.startswith(names.ASYNC_OUTPUT_PREFIX) and key.endswith(".out")
    raw = json.loads(stack.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    if document["job"].get("batch_id"):  # sent in a coalesced request: its item of the answer
        (item,) = [i for i in raw[BatchKeys.ITEMS] if i[BatchKeys.ID] == document["job"]["inference_id"]]
        raw = item[BatchKeys.RESULT]
    assert raw["transcript"] == document["transcript"]
    assert raw["metadata"] == document["metadata"]


def test_the_direct_boto3_path_reaches_the_local_endpoint(
    stack: LocalStack, data_clips: dict[str, Any]
) -> None:
    """Power users call InvokeEndpointAsync themselves (the project's client does): same stack."""
    from twi_asr.client import StackRef, TwiAsrClient

    assert stack.state is not None
    client = TwiAsrClient(
        StackRef(stack.bucket, stack.config.endpoint_name, stack.config.region), session=stack.state.session()
    )
    clip = data_clips["librivox_0870.wav"]
    submitted_before = stack.sources[SUBMIT_FUNCTION].stats.records
    document = client.invoke(clip.path, language="en", timeout_s=RESULT_TIMEOUT_S)
    assert word_error_rate(clip.reference, document["transcript"]).wer <= 0.1  # measured 0.0
    assert document["language"] == "en"
    stack.wait_until_idle()
    # An input under async-input/ is not an upload: it must not have started the S3 flow too.
    assert stack.sources[SUBMIT_FUNCTION].stats.records == submitted_before
