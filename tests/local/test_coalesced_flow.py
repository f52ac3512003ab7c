"""Short uploads that arrive together go to the endpoint as one coalesced request, on the
local stack with its default settings, and each still ends as its own record: a transcript
with its own timings, or, for the one file that cannot be decoded, its own readable
``failed/`` record (it fails alone)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from twi_lambdas import names

from twi_asr.local.stack import LocalStack

RESULT_TIMEOUT_S = 300.0
CLIPS = ("jfk.mp3", "librivox_0870.wav", "librivox_0880.wav", "sonnet1.ogg")


@pytest.fixture(scope="module")
def stack(ct2_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``twi-asr local up`` with the stack's defaults."""
    with LocalStack(model_dir=ct2_model_dir, workdir=tmp_path_factory.mktemp("coalesced")) as running:
        yield running


def test_short_uploads_together_are_one_request_and_a_bad_file_fails_alone(
    stack: LocalStack, data_clips: dict[str, Any], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.wav"  # a WAV header (submit lets it through), then no audio
    broken.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)) * 8)
    uploads = {f"audio/together/{i}-{name}": data_clips[name].path for i, name in enumerate(CLIPS)}
    uploads["audio/together/broken.wav"] = broken
    assert stack.endpoint is not None
    stack.wait_until_idle(RESULT_TIMEOUT_S)
    before = stack.endpoint.snapshot().accepted

    with ThreadPoolExecutor(len(uploads)) as pool:  # as a client uploads a folder
        list(pool.map(lambda item: stack.upload(item[1], item[0]), uploads.items()))
    results = {key: stack.wait_for_result(key, RESULT_TIMEOUT_S) for key in uploads}
    stack.wait_until_idle(RESULT_TIMEOUT_S)

    requests = stack.endpoint.snapshot().accepted - before
    assert requests < len(uploads), "uploads that arrived together were not coalesced"
    where, failed = results.pop("audio/together/broken.wav")
    assert where == f"{names.FAILED_PREFIX}together/broken.wav.json"
    assert "broken.wav" in failed["reason"] and failed["stage"] == "endpoint"
    expected = {"0-jfk.mp3": "ask not", "1-librivox_0870.wav": "", "2-librivox_0880.wav": "young man"}
    for key, (where, document) in results.items():
        assert where.startswith(names.TRANSCRIPTS_PREFIX), document
        assert document["source"]["key"] == key
        meta = document["metadata"]
        assert meta["audio_duration_sec"] > 1 and 0 < meta["rtf"] < 10  # its own timing
        words = expected.get(key.rsplit("/", 1)[1], "")
        assert words in document["transcript"].lower()
    durations = {round(d["metadata"]["audio_duration_sec"], 1) for _, d in results.values()}
    assert len(durations) == len(results)  # each its own audio, not the batch's
    pinned = stack.s3.list_objects_v2(Bucket=stack.bucket, Prefix=names.UPLOAD_INPUT_PREFIX)
    assert pinned["KeyCount"] == 0  # every claim released once its outcome was recorded
