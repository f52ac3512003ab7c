"""PyTorch's bfloat16 encoder (twi_endpoint.torch_encoder), built from the CTranslate2 model's
own weights, on real Whisper base weights and real speech (tests/data).

Measured on 8, 18 and 28 s of the English clips (encoder inputs of 10, 20 and 30 s),
2026-12-03: against CTranslate2's float32 encoder, PyTorch bfloat16 differs by 3.4, 3.4 and
1.7 % (relative L2 of the output), CTranslate2's int8 encoder, which it replaces where it
is faster, by 7.2, 6.2 and 4.7 %.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from types import SimpleNamespace

import ctranslate2
import librosa
import numpy as np
import pytest
from twi_endpoint import ct2_engine
from twi_endpoint.ct2_engine import CTranslate2Engine, load_ctranslate2_engine, usable_cpu_count
from twi_endpoint.engines import load_engine
from twi_endpoint.errors import ModelLoadError
from twi_endpoint.settings import EndpointSettings
from twi_endpoint.torch_encoder import (
    SLOW_WARM_UP,
    TorchEncoder,
    bfloat16_units,
    faster_encoders,
    machine_key,
    read_encoder_weights,
    remembered_choice,
)
from twi_endpoint.types import SAMPLE_RATE, DecodeOptions

from twi_asr.scoring import word_error_rate

ENGLISH = DecodeOptions(language="en")


@pytest.fixture(scope="module")
def weights(ct2_model_dir: Path) -> dict[str, np.ndarray]:
    read = read_encoder_weights(ct2_model_dir / "model.bin")
    assert read is not None
    return read


@pytest.fixture(scope="module")
def engine(ct2_model_dir: Path) -> CTranslate2Engine:
    return load_ctranslate2_engine(ct2_model_dir, device="cpu")


def _audio(path: Path, seconds: float) -> np.ndarray:
    audio, _ = librosa.load(str(path), sr=SAMPLE_RATE, mono=True, duration=seconds)
    return np.asarray(audio, dtype=np.float32)


def test_reads_the_encoder_of_the_shipped_model(weights: dict[str, np.ndarray]) -> None:
    assert int(weights["encoder/num_heads"]) == 8  # Whisper base
    assert weights["encoder/conv1/weight"].shape == (512, 80, 3)
    assert weights["encoder/position_encodings/encodings"].shape == (1500, 512)
    assert sum(name.endswith("self_attention/linear_0/weight") for name in weights) == 6
    assert all(name.startswith("encoder/") for name in weights)  # the decoder stays on CTranslate2
    assert {w.dtype for name, w in weights.items() if name != "encoder/num_heads"} == {np.dtype(np.float16)}


def _model_bin(path: Path, version: int, dtype: int) -> Path:
    """A one-variable model.bin in CTranslate2's layout (version, spec, revision, variables)."""

    def string(text: str) -> bytes:
        raw = text.encode() + b"\0"
        return struct.pack("<H", len(raw)) + raw

    data = bytes(8)  # four float16 zeros
    body = struct.pack("<I", version) + string("WhisperSpec") + struct.pack("<I", 3) + struct.pack("<I", 1)
    body += string("encoder/conv1/bias") + struct.pack("<B", 1) + struct.pack("<I", 4)
    body += struct.pack("<B", dtype) + struct.pack("<I", len(data)) + data
    path.write_bytes(body)
    return path


def test_a_quantised_or_older_model_keeps_ctranslate2s_encoder(tmp_path: Path) -> None:
    assert read_encoder_weights(_model_bin(tmp_path / "int8.bin", version=6, dtype=1)) is None  # int8
    assert read_encoder_weights(_model_bin(tmp_path / "old.bin", version=3, dtype=4)) is None
    read = read_encoder_weights(_model_bin(tmp_path / "f16.bin", version=6, dtype=4))
    assert read is not None and read["encoder/conv1/bias"].shape == (4,)


def test_matches_the_float32_encoder_closer_than_int8_on_real_speech(
    engine: CTranslate2Engine, weights: dict[str, np.ndarray], ct2_model_dir: Path, data_clips: dict
) -> None:
    reference = ctranslate2.models.Whisper(str(ct2_model_dir), device="cpu", compute_type="float32")
    int8 = ctranslate2.models.Whisper(str(ct2_model_dir), device="cpu", compute_type="int8")
    encoder = TorchEncoder(weights, threads=usable_cpu_count())
    speech = ["jfk.mp3", "sonnet1.mp3", "librivox_0870.wav", "librivox_0880.wav"]  # 30.1 s
    audio = np.concatenate([_audio(data_clips[name].path, 30.0) for name in speech])
    for seconds in (10, 20, 30):  # every encoder input size the engine uses
        mel = engine._log_mel(audio[: (seconds - 2) * SAMPLE_RATE])[None]  # + its quiet tail
        want = np.asarray(reference.encode(ctranslate2.StorageView.from_array(mel), to_cpu=True))
        got = encoder(mel)
        assert got.shape == want.shape == (1, seconds * 50, 512) and got.dtype == np.float32
        error = np.linalg.norm(got - want) / np.linalg.norm(want)
        int8_error = np.linalg.norm(
            np.asarray(int8.encode(ctranslate2.StorageView.from_array(mel), to_cpu=True)) - want
        ) / np.linalg.norm(want)
        assert error < 0.05 and error < int8_error / 1.5, (seconds, error, int8_error)


def _test_clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The encoder timing's clock, moved by the test's encoders (a sleep on a loaded machine
    overran 0.02 s to 0.06 s): ``clock[0] += seconds`` is an encoder taking that long."""
    clock = [0.0]
    monkeypatch.setattr("twi_endpoint.torch_encoder.time", SimpleNamespace(perf_counter=lambda: clock[0]))
    return clock


def test_the_encoder_is_chosen_by_what_runs_faster_here_at_each_input_length(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As on an AMD Zen 4: CTranslate2's int8 faster on short inputs, PyTorch's on long ones
    (its attention kernel pays less for the square of the length)."""
    clock = _test_clock(monkeypatch)
    seen: list[tuple[int, ...]] = []
    int8_s, flash_s = {1000: 0.01, 2000: 0.02, 3000: 0.06}, {1000: 0.03, 2000: 0.04, 3000: 0.03}

    def int8(mels: list[np.ndarray]) -> None:
        seen.append((len(mels), *mels[0].shape))
        clock[0] += int8_s[mels[0].shape[1]]

    def flash(mels: list[np.ndarray]) -> None:
        clock[0] += flash_s[mels[0].shape[1]]

    choice = faster_encoders({"int8": int8, "flash": flash}, n_mels=80)
    assert choice == {1000: "int8", 2000: "int8", 3000: "flash"}
    assert seen == [(2, 80, n) for n in (1000, 1000, 2000, 2000, 3000, 3000)]  # two windows, twice
    assert faster_encoders({"flash": flash, "int8": int8}, n_mels=80) == choice  # not the order


def test_an_encoder_clearly_slower_on_its_first_run_is_not_run_again(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = _test_clock(monkeypatch)
    calls = {"fast": 0, "slow": 0}

    def fast(mels: list[np.ndarray]) -> None:
        calls["fast"] += 1
        clock[0] += 0.002

    def slow(mels: list[np.ndarray]) -> None:
        calls["slow"] += 1
        clock[0] += 0.002 * SLOW_WARM_UP + 0.05

    choice = faster_encoders({"fast": fast, "slow": slow}, n_mels=80, lengths=(10, 20))
    assert choice == {10: "fast", 20: "fast"}
    assert calls == {"fast": 4, "slow": 2}  # two runs a length; the first run only


def test_bfloat16_is_used_where_the_cpu_computes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    def cpu(amx: bool, vector: bool) -> str | None:
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: vector, raising=False)
        return bfloat16_units()

    assert cpu(amx=True, vector=True) == "amx"
    assert cpu(amx=False, vector=True) == "avx512_bf16"
    assert cpu(amx=False, vector=False) is None  # emulated: several times slower than int8
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported")
    assert bfloat16_units() == "avx512_bf16"  # a PyTorch without the probes: the timing decides


@pytest.mark.parametrize("units", ["amx", "avx512_bf16", None])
def test_the_encoder_follows_the_cpu_and_is_timed_once_a_machine(
    ct2_model_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, units: str | None
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # this machine has never timed them
    calls: list[list[str]] = []

    def timed(candidates: dict, n_mels: int, lengths: tuple[int, ...]) -> dict[int, str]:
        calls.append(sorted(candidates))
        assert lengths == (1000, 2000, 3000)  # every encoder input length the engine uses
        return {1000: "ctranslate2", 2000: "ctranslate2", 3000: "torch-bfloat16"}  # as on Zen 4

    monkeypatch.setattr(ct2_engine, "bfloat16_units", lambda: units)
    monkeypatch.setattr(ct2_engine, "_ENCODER_CHOICE", {})
    monkeypatch.setattr(ct2_engine, "faster_encoders", timed)
    engines = [load_ctranslate2_engine(ct2_model_dir, device="cpu") for _ in range(2)]
    uses_torch = [engine._torch_encoder is not None for engine in engines]
    kept_on_ct2 = [engine._ct2_frames for engine in engines]
    if units == "amx":  # measured: no timing at load, every length on PyTorch
        assert calls == [] and uses_torch == [True, True] and kept_on_ct2 == [frozenset()] * 2
        assert engines[0].dtype.endswith("(encoder bfloat16)")
    elif units == "avx512_bf16":  # timed once; the second load reuses the choice
        assert calls == [["ctranslate2", "torch-bfloat16"]] and uses_torch == [True, True]
        assert kept_on_ct2 == [frozenset({1000, 2000})] * 2
        assert engines[0].dtype.endswith("(encoder bfloat16 on 30 s inputs)")
        monkeypatch.setattr(ct2_engine, "_ENCODER_CHOICE", {})  # as in another process
        again = load_ctranslate2_engine(ct2_model_dir, device="cpu")
        assert len(calls) == 1 and again._ct2_frames == frozenset({1000, 2000})  # remembered
        assert (tmp_path / "twi-asr" / "encoder-choice.json").is_file()
    else:
        assert calls == [] and uses_torch == [False, False]


def test_a_timed_choice_is_remembered_for_the_machine(tmp_path: Path, ct2_model_dir: Path) -> None:
    path, runs = tmp_path / "cache" / "choice.json", []

    def measure() -> dict[int, str]:
        runs.append(1)
        return {1000: "ctranslate2", 3000: "torch-bfloat16"}

    key = machine_key(ct2_model_dir / "model.bin", threads=2)
    assert "2 threads" in key and "ctranslate2 " in key and "torch " in key
    assert key != machine_key(ct2_model_dir / "model.bin", threads=4)
    assert remembered_choice(key, measure, path) == {1000: "ctranslate2", 3000: "torch-bfloat16"}
    assert remembered_choice(key, measure, path) == {1000: "ctranslate2", 3000: "torch-bfloat16"}
    assert len(runs) == 1  # the second process reads it
    assert remembered_choice("another machine", measure, path) and len(runs) == 2
    assert len(json.loads(path.read_text())) == 2  # both kept
    path.write_text("{not json")  # a broken file: timed again, and written whole
    assert remembered_choice(key, measure, path) and len(runs) == 3
    assert list(json.loads(path.read_text())) == [key]
    unwritable = tmp_path / "file"  # a file where the folder should be: nothing is written
    unwritable.write_text("")
    assert remembered_choice(key, measure, unwritable / "choice.json") == measure()


def test_each_input_length_runs_on_the_encoder_chosen_for_it(
    engine: CTranslate2Engine, weights: dict[str, np.ndarray]
) -> None:
    chosen, kept = engine._torch_encoder, engine._ct2_frames
    ran: list[tuple[str, int]] = []
    torch_encoder = chosen or TorchEncoder(weights, threads=usable_cpu_count())

    def on_torch(mels: np.ndarray) -> np.ndarray:
        ran.append(("torch", mels.shape[-1]))
        return torch_encoder(mels)

    encode_ct2 = engine._encode_ct2

    def on_ct2(mels: list[np.ndarray]) -> object:
        ran.append(("ct2", mels[0].shape[-1]))
        return encode_ct2(mels)

    try:
        engine._torch_encoder, engine._ct2_frames = on_torch, frozenset({1000, 2000})  # type: ignore[assignment]
        engine._encode_ct2 = on_ct2  # type: ignore[method-assign]
        rng = np.random.default_rng(0)
        for frames in (1000, 2000, 3000):
            out = np.asarray(engine._encode([rng.standard_normal((80, frames)).astype(np.float32)] * 2))
            assert out.shape == (2, frames // 2, 512)
        assert ran == [("ct2", 1000), ("ct2", 2000), ("torch", 3000), ("torch", 3000)]
    finally:
        engine._torch_encoder, engine._ct2_frames = chosen, kept
        del engine._encode_ct2


@pytest.mark.parametrize(("wanted", "torch_runs"), [("ctranslate2", False), ("bfloat16", True)])
def test_the_encoder_can_be_pinned(
    ct2_model_dir: Path, data_clips: dict, wanted: str, torch_runs: bool
) -> None:
    """``TWI_ASR_CPU_ENCODER`` through the endpoint's own loader, whatever this CPU is."""
    settings = EndpointSettings.from_env({"TWI_ASR_CPU_ENCODER": wanted})
    engine = load_engine(ct2_model_dir, settings)
    assert isinstance(engine, CTranslate2Engine) and (engine._torch_encoder is not None) is torch_runs
    assert engine.dtype.endswith("(encoder bfloat16)") is torch_runs
    clip = data_clips["jfk.mp3"]
    assert (
        word_error_rate(clip.reference, engine.transcribe(_audio(clip.path, 20.0), ENGLISH).text).wer == 0.0
    )


def test_bfloat16_asked_of_a_quantised_model_is_refused(
    ct2_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ct2_engine, "read_encoder_weights", lambda path: None)  # as for int8 weights
    with pytest.raises(ModelLoadError, match="not floating point"):
        load_ctranslate2_engine(ct2_model_dir, device="cpu", cpu_encoder="bfloat16")
    assert load_ctranslate2_engine(ct2_model_dir, device="cpu")._torch_encoder is None  # auto: int8 quietly


def test_both_encoders_give_the_same_transcript_and_times(
    engine: CTranslate2Engine, weights: dict[str, np.ndarray], data_clips: dict
) -> None:
    """Text within 5 % over the three clips (53 words: one word may differ; on an AMD Zen 4,
    bfloat16 without AMX, PyTorch's encoder gave whisper-base's "ill-sposed" for "ill
    disposed", 12.5 % of that 8-word clip alone); segment starts within 0.2 s on each."""
    chosen, kept = engine._torch_encoder, engine._ct2_frames
    torch_encoder = chosen or TorchEncoder(weights, threads=usable_cpu_count())
    references, ct2_texts, torch_texts = [], [], []
    try:
        engine._ct2_frames = frozenset()  # every length on one encoder, then on the other
        for name in ("jfk.mp3", "librivox_0870.wav", "librivox_0880.wav"):
            clip = data_clips[name]
            audio = _audio(clip.path, 60.0)
            engine._torch_encoder = None
            with_ct2 = engine.transcribe(audio, ENGLISH)
            engine._torch_encoder = torch_encoder
            with_torch = engine.transcribe(audio, ENGLISH)
            references.append(clip.reference)
            ct2_texts.append(with_ct2.text)
            torch_texts.append(with_torch.text)
            starts = [s.start for s in with_torch.segments]
            assert len(starts) == len(with_ct2.segments)
            assert max(abs(a - s.start) for a, s in zip(starts, with_ct2.segments, strict=True)) <= 0.2
    finally:
        engine._torch_encoder, engine._ct2_frames = chosen, kept
    assert word_error_rate(" ".join(references), " ".join(torch_texts)).wer <= 0.05, torch_texts
    assert word_error_rate(" ".join(ct2_texts), " ".join(torch_texts)).wer <= 0.05, (ct2_texts, torch_texts)


def test_reports_which_encoder_ran(engine: CTranslate2Engine) -> None:
    compute_type = engine._model.compute_type
    if engine._torch_encoder is None:
        assert engine.dtype == compute_type
    elif not engine._ct2_frames:
        assert engine.dtype == f"{compute_type} (encoder bfloat16)"
    else:  # timed per input length (a CPU with bfloat16 vector instructions only)
        assert engine.dtype.startswith(f"{compute_type} (encoder bfloat16 on ")
        assert engine.dtype.endswith(" s inputs)")
