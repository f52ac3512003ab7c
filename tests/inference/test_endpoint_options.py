"""Settings, per-request options and language checks: no model needed."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from twi_endpoint.engines import detect_engine
from twi_endpoint.errors import InvalidRequestError, ModelLoadError
from twi_endpoint.gate import check_speech, peak_frame_dbfs
from twi_endpoint.request import (
    check_language,
    custom_attributes_from_context,
    model_languages,
    resolve_options,
)
from twi_endpoint.settings import EndpointSettings
from twi_endpoint.types import N_SAMPLES, SAMPLE_RATE
from twi_endpoint.windows import split_windows

from twi_asr.local_model import RequestContext


def test_settings_from_env() -> None:
    s = EndpointSettings.from_env(
        {"TWI_ASR_LANGUAGE": "YO", "TWI_ASR_TASK": "translate", "TWI_ASR_BATCH_SIZE": "8", "TWI_ASR_VAD": "0"}
    )
    assert (s.language, s.task, s.batch_size, s.vad) == ("yo", "translate", 8, False)
    assert EndpointSettings.from_env({}).language is None  # detection unless configured
    assert EndpointSettings.from_env({"TWI_ASR_LANGUAGE": "auto"}).language is None
    assert EndpointSettings.from_env({}).cpu_encoder == "auto"
    assert EndpointSettings.from_env({"TWI_ASR_CPU_ENCODER": " CTranslate2 "}).cpu_encoder == "ctranslate2"
    assert EndpointSettings.from_env({}).beam_size == 1  # greedy, broken windows again with beam 5
    assert EndpointSettings.from_env({"TWI_ASR_BEAM_SIZE": "5"}).beam_size == 5


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TWI_ASR_TASK": "summarize"}, "invalid task 'summarize'"),
        ({"TWI_ASR_BATCH_SIZE": "many"}, "TWI_ASR_BATCH_SIZE='many' is not an integer"),
        ({"TWI_ASR_BATCH_SIZE": "0"}, "must be at least 1"),
        ({"TWI_ASR_BEAM_SIZE": "0"}, "TWI_ASR_BEAM_SIZE='0' must be at least 1"),
        ({"TWI_ASR_BEAM_SIZE": "50"}, "TWI_ASR_BEAM_SIZE='50' must be at most 10"),
        ({"TWI_ASR_MAX_AUDIO_SECONDS": "1h"}, "TWI_ASR_MAX_AUDIO_SECONDS='1h' is not a number"),
        (
            {"TWI_ASR_CPU_ENCODER": "fp8"},
            "TWI_ASR_CPU_ENCODER='fp8': expected one of auto, ctranslate2, bfloat16",
        ),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        EndpointSettings.from_env(env)


def test_custom_attributes() -> None:
    config = EndpointSettings(language="yo")
    assert resolve_options("", config).language_source == "config"
    opts = resolve_options("language=en;task=translate;filename=a.m4a", config)
    assert (opts.decode.language, opts.decode.task, opts.language_source, opts.filename) == (
        "en",
        "translate",
        "request",
        "a.m4a",
    )
    assert resolve_options("language=auto", config).language_source == "detected"
    with pytest.raises(InvalidRequestError, match="invalid task 'sing'"):
        resolve_options("task=sing", config)
    assert not opts.decode.words  # word times only when asked
    assert resolve_options("words=true", config).decode.words
    assert not resolve_options("words=false", config).decode.words
    with pytest.raises(InvalidRequestError, match="invalid words='maybe'"):
        resolve_options("words=maybe", config)


def test_custom_attributes_from_toolkit_context() -> None:
    ctx = RequestContext({"Content-Type": "audio/wav", "x-amzn-sagemaker-custom-attributes": "language=yo"})
    assert custom_attributes_from_context(ctx) == "language=yo"
    assert custom_attributes_from_context(None) == ""
    assert custom_attributes_from_context(RequestContext({})) == ""


def test_language_checked_against_the_model(ct2_model_dir: Path) -> None:
    known = model_languages(ct2_model_dir)
    assert len(known) == 99 and {"en", "yo", "sw", "haw"} <= known and "tw" not in known
    check_language("yo", known, "request")
    check_language(None, known, "config")
    with pytest.raises(
        InvalidRequestError, match=r"invalid language 'tw' \(from CustomAttributes\).*<\|tw\|>"
    ):
        check_language("tw", known, "request")


def test_engine_detected_from_files(ct2_model_dir: Path, tmp_path: Path) -> None:
    assert detect_engine(ct2_model_dir) == "ctranslate2"
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"")
    assert detect_engine(tmp_path) == "transformers"
    with pytest.raises(ModelLoadError, match="holds no Whisper model"):
        detect_engine(tmp_path.parent)
    with pytest.raises(ModelLoadError, match="does not exist"):
        detect_engine(tmp_path / "missing")


def test_both_engines_refuse_a_beam_under_one_before_loading(ct2_model_dir: Path, tmp_path: Path) -> None:
    """One check (``settings.checked_beam_size``), before any weights are read: the
    transformers engine is given a directory with none."""
    from twi_endpoint.ct2_engine import load_ctranslate2_engine
    from twi_endpoint.hf_engine import load_transformers_engine

    with pytest.raises(ModelLoadError, match="beam_size must be >= 1, got 0"):
        load_transformers_engine(tmp_path, device="cpu", beam_size=0)
    with pytest.raises(ModelLoadError, match="beam_size must be >= 1, got -1"):
        load_ctranslate2_engine(ct2_model_dir, device="cpu", beam_size=-1)


def test_gate_energy_and_vad(data_clips: dict) -> None:
    from twi_endpoint.audio import decode_audio

    silence = np.zeros(SAMPLE_RATE * 600, dtype=np.float32)  # 10 minutes
    assert peak_frame_dbfs(silence) < -150
    decision = check_speech(silence, -50.0, True, 0.2)
    assert (decision.has_speech, decision.reason, decision.method) == (False, "silence", "energy")
    noise = np.random.default_rng(1).normal(0, 0.05, SAMPLE_RATE * 10).astype(np.float32)  # about -26 dBFS
    decision = check_speech(noise, -50.0, True, 0.2)
    assert (decision.has_speech, decision.reason) == (False, "no speech")
    speech = decode_audio(data_clips["jfk.mp3"].path.read_bytes()).samples
    decision = check_speech(speech, -50.0, True, 0.2)
    assert decision.has_speech and decision.speech_seconds is not None and decision.speech_seconds > 5


def test_windows_cover_the_audio_at_pauses() -> None:
    rng = np.random.default_rng(2)
    audio = rng.normal(0, 0.1, SAMPLE_RATE * 100).astype(np.float32)
    audio[SAMPLE_RATE * 25 : SAMPLE_RATE * 26] = 0.0  # a pause at 25-26 s
    windows = split_windows(audio)
    assert windows[0][0] == 0 and windows[-1][1] == len(audio)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(windows))
    assert all(0 < e - s <= N_SAMPLES for s, e in windows)
    assert SAMPLE_RATE * 25 <= windows[0][1] <= SAMPLE_RATE * 26  # cut inside the pause
    assert split_windows(audio[: SAMPLE_RATE * 10]) == [(0, SAMPLE_RATE * 10)]


def test_timestamp_tokens_to_segments() -> None:
    """Whisper's timestamp tokens, including generate's mid-window clock restart (seen on
    whisper-base: ``<|22.96|><|22.96|><|0.00|> making a famine ... <|4.32|>``)."""
    from twi_endpoint.timeline import timestamped_segments

    begin, eos = 1000, 500  # timestamp tokens from 1000 (<|0.00|>), text below eos

    def ts(seconds: float) -> int:
        return begin + round(seconds / 0.02)

    tokens = [ts(0), 1, ts(9.28), ts(9.28), 2, ts(22.96), ts(22.96), ts(0), 3, ts(4.32), 4, eos]
    segments = timestamped_segments(tokens, begin, eos, 30.0)
    assert [(round(s.start, 2), round(s.end, 2), s.tokens) for s in segments] == [
        (0.0, 9.28, [1]),
        (9.28, 22.96, [2]),
        (22.96, 27.28, [3]),
        (27.28, 30.0, [4]),  # not closed by the model: runs to the window's end
    ]
