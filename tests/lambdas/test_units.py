"""The plain functions of twi_lambdas, without AWS: keys, content types, ids, settings, results.

The contract they share with the endpoint (CustomAttributes, sniffing) is tested in
tests/test_twi_contract.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from twi_lambdas import batches, keys, names
from twi_lambdas.errors import ConfigurationError
from twi_lambdas.ids import MAX_INFERENCE_ID_CHARS, etag_of, inference_id
from twi_lambdas.results import Job, Source, validate_endpoint_result
from twi_lambdas.settings import Settings


def test_key_mapping_keeps_the_extension_and_the_folders() -> None:
    assert keys.audio_path("audio/a/b.m4a") == "a/b.m4a"
    assert keys.transcript_key("a/b.m4a") == "transcripts/a/b.m4a.json"
    assert keys.transcript_key("a/b.m4a", names.SRT_SUFFIX) == "transcripts/a/b.m4a.srt"
    assert keys.failed_key("a/b.m4a") == "failed/a/b.m4a.json"
    assert keys.audio_path("transcripts/x.json") is None and keys.audio_path("audio/") is None
    assert keys.is_folder_marker("audio/new folder/")


def test_event_keys_are_form_decoded() -> None:
    assert (
        keys.decode_event_key("audio/Me+din+de+K%C9%94fi+%2B+%C9%9Bna.wav")
        == "audio/Me din de Kɔfi + ɛna.wav"
    )
    assert keys.decode_event_key("audio%2Fa%2Fb.mp3") == "audio/a/b.mp3"


def test_s3_uris() -> None:
    assert keys.parse_s3_uri("s3://bkt/audio/Kɔfi ne Ama.wav") == ("bkt", "audio/Kɔfi ne Ama.wav")
    with pytest.raises(ValueError, match="not an s3://bucket/key URI"):
        keys.parse_s3_uri("https://example.com/x")


def test_content_types_by_extension() -> None:
    assert keys.content_type_for_key("audio/x.M4A") == "audio/mp4"
    assert keys.content_type_for_key("audio/voice.opus") == "audio/ogg"
    assert keys.content_type_for_key("audio/x.amr") == "audio/amr"
    assert keys.content_type_for_key("audio/x.wma") == "audio/x-ms-wma"
    assert keys.content_type_for_key("audio/notes.txt") is None
    assert keys.content_type_for_key("audio/.wav") is None  # a dot file, not an extension


def test_inference_ids_are_deterministic_short_and_carry_the_etag() -> None:
    a = inference_id("bkt", "audio/Kɔfi.wav", '"0123456789abcdef0123456789abcdef"', "v1")
    assert a == inference_id("bkt", "audio/Kɔfi.wav", "0123456789abcdef0123456789abcdef", "v1")
    assert a != inference_id("bkt", "audio/Kɔfi.wav", "0123456789abcdef0123456789abcdef", "v2")
    assert etag_of(a) == "0123456789abcdef0123456789abcdef"
    multipart = inference_id("bkt", "k", "0123456789abcdef0123456789abcdef-10000")
    assert len(multipart) <= MAX_INFERENCE_ID_CHARS
    assert etag_of(multipart) == "0123456789abcdef0123456789abcdef-10000"
    opaque = inference_id("bkt", "k", "x" * 80)
    assert len(opaque) <= MAX_INFERENCE_ID_CHARS and opaque.isascii()
    assert etag_of("c39b09cc-f528-4042-95f2-3a519d24a77f") is None  # SageMaker's own ids


def test_settings_from_env_and_their_errors() -> None:
    s = Settings.from_env({names.ENV_ENDPOINT_NAME: "ep", names.ENV_MAX_INPUT_BYTES: "1000"})
    assert s.endpoint_name == "ep" and s.max_input_bytes == 1000 and s.default_task == "transcribe"
    assert Settings.from_env({}).max_input_bytes == names.MAX_ASYNC_INPUT_BYTES
    with pytest.raises(ConfigurationError, match="MAX_INPUT_BYTES=2147483648"):
        Settings.from_env({names.ENV_MAX_INPUT_BYTES: str(2 * 1024**3)})
    with pytest.raises(ConfigurationError, match="is not a whole number"):
        Settings.from_env({names.ENV_INVOCATION_TIMEOUT_SECONDS: "soon"})
    with pytest.raises(ConfigurationError, match="DEFAULT_TASK='summarise'"):
        Settings.from_env({names.ENV_DEFAULT_TASK: "summarise"})
    with pytest.raises(ConfigurationError, match="ENDPOINT_NAME is not set"):
        Settings.from_env({}).require_endpoint()


def test_coalescing_settings_and_their_errors() -> None:
    s = Settings.from_env({})
    assert (s.coalesce_max_files, s.coalesce_max_file_bytes, s.coalesce_max_bytes) == (
        10,
        2 * 2**20,
        32 * 2**20,
    )
    assert s.coalescing and not Settings.from_env({names.ENV_COALESCE_MAX_FILES: "1"}).coalescing
    with pytest.raises(
        ConfigurationError, match=r"COALESCE_MAX_FILES=31: must be between 1 \(no coalescing\)"
    ):
        Settings.from_env({names.ENV_COALESCE_MAX_FILES: "31"})
    with pytest.raises(ConfigurationError, match="COALESCE_MAX_FILE_BYTES=2000: must be between 1 and"):
        Settings.from_env({names.ENV_COALESCE_MAX_FILE_BYTES: "2000", names.ENV_COALESCE_MAX_BYTES: "1000"})


def test_coalesced_groups_follow_arrival_order_within_both_limits() -> None:
    sizes = [5, 5, 5, 20, 1, 1, 1]
    assert batches.plan(sizes, int, max_files=3, max_bytes=100) == [[5, 5, 5], [20, 1, 1], [1]]
    assert batches.plan(sizes, int, max_files=10, max_bytes=12) == [[5, 5], [5], [20], [1, 1, 1]]
    assert batches.plan([], int, max_files=10, max_bytes=12) == []
    ids = ["b" * 57, "a" * 57]
    assert batches.batch_id(ids) == batches.batch_id(reversed(ids)) != batches.batch_id(ids[:1])
    assert len(batches.batch_id(ids)) <= MAX_INFERENCE_ID_CHARS
    # the members' ids fit in the batch input's user metadata (2 KB, keys and values)
    longest = " ".join(["x" * MAX_INFERENCE_ID_CHARS] * names.MAX_COALESCE_FILES)
    assert len(names.META_BATCH_MEMBERS) + len(longest) <= 2048


def test_endpoint_results_are_validated_with_a_reason() -> None:
    good = {"transcript": "x", "segments": [{"start": 0, "end": 1.5, "text": "x"}], "metadata": {}}
    assert validate_endpoint_result(json.dumps(good).encode()) == good
    with pytest.raises(ValueError, match="not UTF-8 JSON"):
        validate_endpoint_result(b"<html>")
    with pytest.raises(ValueError, match=r"segment 0 .* lacks numeric start/end"):
        validate_endpoint_result(
            json.dumps({**good, "segments": [{"start": True, "end": 1, "text": ""}]}).encode()
        )


def test_job_times() -> None:
    t = datetime(2026, 1, 25, 22, 46, 4, 608000, tzinfo=UTC)
    job = Job("id", "ep", datetime(2026, 1, 25, 22, 45, 59, 455000, tzinfo=UTC), t)
    uploaded = datetime(2026, 1, 25, 22, 45, 58, tzinfo=UTC)
    assert job.as_dict(uploaded)["end_to_end_sec"] == 6.608
    assert job.as_dict(None)["end_to_end_sec"] == 5.153
    assert job.as_dict(datetime(2026, 1, 26, tzinfo=UTC))["end_to_end_sec"] == 5.153  # re-uploaded later
    assert Source("b", "k", uploaded_at=uploaded).as_dict()["uploaded_at"] == "2026-01-25T22:45:58.000Z"
