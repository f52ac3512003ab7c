"""Coalesced requests through the endpoint's handler: several short files in one request
(``twi_contract.BATCH_CONTENT_TYPE``), decoded in shared batches, one result or error per
file. Real Whisper base weights (CTranslate2) on real speech from tests/data, one batch."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from twi_contract import BATCH_CONTENT_TYPE, BatchItem, BatchKeys, format_custom_attributes, pack_batch
from twi_endpoint.audio import decode_audio
from twi_endpoint.errors import InvalidRequestError
from twi_endpoint.types import DecodeOptions, Transcription

from twi_asr.local_model import LocalModel

# what a file's result may differ in from the same file sent alone: how long it took
TIMES = ("processing_time_sec", "rtf", "decode_time_sec", "inference_time_sec")
NOT_AUDIO = b"Meeting notes: call Kofi on Monday.\n"
# id -> (clip in tests/data or None for NOT_AUDIO, CustomAttributes)
FILES: dict[str, tuple[str | None, str]] = {
    "a-jfk": ("jfk.mp3", format_custom_attributes("en", filename="jfk.mp3", words=True)),
    "b-0880": ("librivox_0880.wav", format_custom_attributes("auto")),
    "c-0870": ("librivox_0870.wav", format_custom_attributes("en", "translate", "0870.wav")),
    "d-notes": (None, format_custom_attributes(filename="notes.txt")),
    "e-words": ("jfk.mp3", "language=en;words=maybe"),  # refused when the request is read
    "f-klingon": ("librivox_0880.wav", "language=klingon"),  # refused against the model's tokens
}
SPEECH = ("a-jfk", "b-0880", "c-0870")


def _body(data_clips: dict, clip: str | None) -> bytes:
    return NOT_AUDIO if clip is None else bytes(data_clips[clip].path.read_bytes())


@pytest.fixture(scope="module")
def answer(ct2_model: LocalModel, data_clips: dict) -> dict[str, Any]:
    items = [
        BatchItem(i, _body(data_clips, clip), custom_attributes=attrs) for i, (clip, attrs) in FILES.items()
    ]
    return dict(json.loads(ct2_model.invoke(pack_batch(items), BATCH_CONTENT_TYPE)))


@pytest.fixture(scope="module")
def alone(ct2_model: LocalModel, data_clips: dict) -> dict[str, dict[str, Any]]:
    """The speech files, each sent as a single request with the same CustomAttributes."""
    return {
        i: json.loads(
            ct2_model.invoke(_body(data_clips, FILES[i][0]), "application/octet-stream", FILES[i][1])
        )
        for i in SPEECH
    }


def _entries(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry[BatchKeys.ID]: entry for entry in answer[BatchKeys.ITEMS]}


def test_every_file_comes_back_under_its_id_in_order(answer: dict[str, Any]) -> None:
    assert set(answer) == {BatchKeys.ITEMS, BatchKeys.METADATA}
    assert [entry[BatchKeys.ID] for entry in answer[BatchKeys.ITEMS]] == list(FILES)
    for entry in answer[BatchKeys.ITEMS]:
        assert len(entry) == 2 and (BatchKeys.RESULT in entry) != (BatchKeys.ERROR in entry)


def test_each_result_is_the_single_request_result(
    answer: dict[str, Any], alone: dict[str, dict[str, Any]]
) -> None:
    """Same transcript, segments, words, language and metadata as the file sent alone:
    sharing batches with other files changes nothing but the timings."""
    entries = _entries(answer)
    for i in SPEECH:
        result, single = entries[i][BatchKeys.RESULT], alone[i]
        assert result["transcript"] and result["transcript"] == single["transcript"]
        assert {k: v for k, v in result.items() if k != "metadata"} == {
            k: v for k, v in single.items() if k != "metadata"
        }
        times_left_out = {k: v for k, v in single["metadata"].items() if k not in TIMES}
        assert {k: v for k, v in result["metadata"].items() if k not in TIMES} == times_left_out


def test_each_file_keeps_its_own_options(answer: dict[str, Any]) -> None:
    entries = _entries(answer)
    jfk, auto, translated = (entries[i][BatchKeys.RESULT] for i in SPEECH)
    assert (jfk["language"], jfk["metadata"]["language_source"], jfk["metadata"]["task"]) == (
        "en",
        "request",
        "transcribe",
    )
    assert auto["language"] == "en" and auto["metadata"]["language_source"] == "detected"
    assert (
        translated["metadata"]["task"] == "translate"
        and translated["metadata"]["language_source"] == "request"
    )
    # words only where asked
    assert [w["word"] for seg in jfk["segments"] for w in seg["words"]][:4] == ["And", "so", "my", "fellow"]
    assert all("words" not in seg for r in (auto, translated) for seg in r["segments"])


def test_each_file_has_its_own_times(answer: dict[str, Any], alone: dict[str, dict[str, Any]]) -> None:
    entries = _entries(answer)
    for i in SPEECH:
        meta = entries[i][BatchKeys.RESULT]["metadata"]
        assert meta["audio_duration_sec"] == alone[i]["metadata"]["audio_duration_sec"]
        assert meta["rtf"] == meta["processing_time_sec"] / meta["audio_duration_sec"]
        # a 16 kHz WAV is read in well under the millisecond the result rounds to: 0.0 is right
        assert meta["inference_time_sec"] > 0 and meta["decode_time_sec"] >= 0
        assert meta["processing_time_sec"] == pytest.approx(
            meta["decode_time_sec"] + meta["inference_time_sec"], abs=0.002
        )
    assert entries["a-jfk"][BatchKeys.RESULT]["metadata"]["decode_time_sec"] > 0  # an MP3 to decode
    whole = answer[BatchKeys.METADATA]
    assert (whole["files"], whole["failed"]) == (len(FILES), 3)
    assert whole["engine"] == "ctranslate2" and "in proportion" in whole["inference_time_split"]
    assert whole["rtf"] == whole["processing_time_sec"] / whole["audio_duration_sec"]
    assert whole["chunks"] == sum(entries[i][BatchKeys.RESULT]["metadata"]["chunks"] for i in SPEECH)
    longest = max(entries[i][BatchKeys.RESULT]["metadata"]["processing_time_sec"] for i in SPEECH)
    assert whole["processing_time_sec"] >= longest


def test_a_file_that_fails_fails_alone_and_is_named(answer: dict[str, Any]) -> None:
    errors = {i: e[BatchKeys.ERROR] for i, e in _entries(answer).items() if BatchKeys.ERROR in e}
    assert set(errors) == {"d-notes", "e-words", "f-klingon"}
    assert "'notes.txt'" in errors["d-notes"] and "not audio" in errors["d-notes"]
    assert errors["e-words"].startswith("'e-words': invalid words='maybe'")  # no filename: its id
    assert errors["f-klingon"].startswith("'f-klingon': invalid language 'klingon'")


def test_an_unreadable_archive_fails_the_whole_request(ct2_model: LocalModel, data_clips: dict) -> None:
    # the content type's base type decides, in any case, with parameters
    for body in (b"PK\x03\x04 not a zip archive", data_clips["jfk.mp3"].path.read_bytes()):
        with pytest.raises(InvalidRequestError, match="unreadable coalesced request"):
            ct2_model.invoke(body, "Application/X-Twi-ASR-Batch; version=1")


def test_a_coalesced_answer_is_json_only(ct2_model: LocalModel) -> None:
    body = pack_batch([BatchItem("x", NOT_AUDIO)])  # nothing to decode: the answer is quick
    assert json.loads(ct2_model.invoke(body, BATCH_CONTENT_TYPE))[BatchKeys.ITEMS][0][BatchKeys.ERROR]
    with pytest.raises(InvalidRequestError, match=r"coalesced request.*application/json"):
        ct2_model.invoke(body, BATCH_CONTENT_TYPE, accept="text/plain")


def test_the_engine_fails_one_recording_alone(ct2_model: LocalModel, data_clips: dict) -> None:
    """What only the engine can refuse (a language its tokenizer lacks: ``tw`` on a model
    that declares no token for Twi) or bad samples fail that recording, not its batch."""
    audio = decode_audio(data_clips["librivox_0880.wav"].path.read_bytes()).samples
    english = DecodeOptions(language="en")
    answers = ct2_model.engine.transcribe_many(
        [
            (audio, english, None),
            (audio, DecodeOptions(language="tw"), None),
            (np.zeros((2, 4)), english, None),
        ]
    )
    ok, unsupported, not_mono = answers
    assert isinstance(ok, Transcription) and ok.text == ct2_model.engine.transcribe(audio, english).text
    assert isinstance(unsupported, InvalidRequestError) and "unsupported language 'tw'" in str(unsupported)
    assert isinstance(not_mono, ValueError) and "mono" in str(not_mono)
