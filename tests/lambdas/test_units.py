"""The plain functions of twi_lambdas, without AWS: keys, audio types, ids, settings,
custom attributes, results, metrics."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from twi_lambdas import audio_types, keys, metrics, names
from twi_lambdas.errors import ConfigurationError
from twi_lambdas.ids import MAX_INFERENCE_ID_CHARS, etag_of, inference_id
from twi_lambdas.results import Job, Source, validate_endpoint_result
from twi_lambdas.settings import Settings
from twi_lambdas.submit import custom_attributes

DATA = Path(__file__).resolve().parents[1] / "data"


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


@pytest.mark.parametrize(
    ("clip", "container"),
    [
        ("jfk.mp3", "mp3"),
        ("jfk.opus", "ogg"),
        ("librivox_0870.wav", "wav"),
        ("sonnet1.m4a", "mp4"),
        ("sonnet1.mp3", "mp3"),
        ("sonnet1.ogg", "ogg"),
        ("sonnet1.webm", "matroska"),
        ("twi_34997394.mp3", "mp3"),
    ],
)
def test_real_clips_are_recognised_from_their_first_bytes(clip: str, container: str) -> None:
    head = (DATA / clip).read_bytes()[: audio_types.SNIFF_BYTES]
    assert audio_types.sniff(head) == container
    assert audio_types.describe_non_audio(head) is None
    assert audio_types.EXTENSIONS[keys.extension(clip)].container == container


def test_clearly_not_audio() -> None:
    assert audio_types.describe_non_audio(b"%PDF-1.7\n") == "a PDF document"
    assert audio_types.describe_non_audio(b"\xff\xd8\xff\xe0\x00\x10JFIF") == "a JPEG image"
    assert audio_types.sniff(b"\xff\xd8\xff\xe0\x00\x10JFIF") is None  # not an MPEG frame sync
    assert audio_types.describe_non_audio("Ɛnnɛ yɛbɛkasa".encode()[:-1]) == "text"  # cut mid-letter
    assert audio_types.describe_non_audio(bytes(range(256))[:64]) is None  # unknown binary: undecided


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
    assert (
        len(multipart) <= MAX_INFERENCE_ID_CHARS
        and etag_of(multipart) == "0123456789abcdef0123456789abcdef-10000"
    )
    opaque = inference_id("bkt", "k", "x" * 80)
    assert len(opaque) <= MAX_INFERENCE_ID_CHARS and opaque.isascii()
    assert etag_of("c39b09cc-f528-4042-95f2-3a519d24a77f") is None  # SageMaker's own ids


def test_custom_attributes_are_printable_ascii() -> None:
    assert custom_attributes("tw", "transcribe") == "language=tw;task=transcribe"
    assert (
        custom_attributes(None, "translate", "ɔkyeame;1=2.ogg") == "task=translate;filename=_kyeame_1_2.ogg"
    )
    assert len(custom_attributes("tw", "transcribe", "a" * 5000)) <= names.MAX_CUSTOM_ATTRIBUTES_CHARS


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
    with pytest.raises(ConfigurationError, match="DEFAULT_LANGUAGE='Twi language'"):
        Settings.from_env({names.ENV_DEFAULT_LANGUAGE: "Twi language"})
    with pytest.raises(ConfigurationError, match="ENDPOINT_NAME is not set"):
        Settings.from_env({}).require_endpoint()


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


def test_emf_document_shape() -> None:
    doc = metrics.emf_document(
        "TwiAsr", {"EndpointName": "ep"}, {"RTF": 0.1, "Failures": 1}, {"key": "k"}, 1000
    )
    assert doc == {
        "key": "k",
        "EndpointName": "ep",
        "RTF": 0.1,
        "Failures": 1,
        "_aws": {
            "Timestamp": 1000,
            "CloudWatchMetrics": [
                {
                    "Namespace": "TwiAsr",
                    "Dimensions": [["EndpointName"]],
                    "Metrics": [{"Name": "RTF", "Unit": "None"}, {"Name": "Failures", "Unit": "Count"}],
                }
            ],
        },
    }
    with pytest.raises(ValueError, match="unknown metric"):
        metrics.emf_document("TwiAsr", {}, {"Rtf": 1})


def test_the_functions_need_only_the_standard_library_and_boto3() -> None:
    """The CDK stack ships infra/lambdas/ as-is to the Python 3.12 runtime: no bundling, so
    nothing beyond what that runtime has may be imported (certifi: botocore's optional CA
    bundle, used when present; _distutils_hack: setuptools' site hook in this venv)."""
    lambdas_dir = Path(__file__).resolve().parents[2] / "infra" / "lambdas"
    script = (
        "import sys\n"
        "import twi_lambdas.submit, twi_lambdas.complete\n"
        "allowed = set(sys.stdlib_module_names) | {'boto3', 'botocore', 'jmespath', 'dateutil', 'urllib3',"
        " 's3transfer', 'six', 'twi_lambdas', 'certifi', '__main__', '__mp_main__',"
        " '_distutils_hack'}\n"
        "loaded = {m.split('.')[0] for m in sys.modules if not m.startswith('__editable__')}\n"
        "print(sorted(loaded - allowed))\n"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(lambdas_dir)!r})\n{script}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
