"""Fixtures for the endpoint tests: each model is loaded once per session."""

from __future__ import annotations

import io
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from twi_asr.local_model import LocalModel
from twi_asr.scoring import english_normalizer, unelide

ROOT = Path(__file__).resolve().parents[2]
CODE_DIR = ROOT / "inference"


@pytest.fixture(scope="session")
def ct2_model(ct2_model_dir: Path) -> LocalModel:
    """The offline default (Whisper base, CTranslate2 int8 on CPU) behind the real handler."""
    return LocalModel(ct2_model_dir)


@pytest.fixture(scope="session")
def hf_model(hf_model_dir: Path) -> LocalModel:
    """Whisper base in transformers format (../shared) behind the real handler."""
    return LocalModel(hf_model_dir)


@pytest.fixture(scope="session")
def wer() -> Callable[[list[str], list[str]], float]:
    """Corpus WER (jiwer) over texts normalised as the demo and the benchmark score them
    (Whisper's English normaliser and spelling map: :mod:`twi_asr.scoring`)."""
    import jiwer

    normalize = english_normalizer()

    def compute(references: list[str], hypotheses: list[str]) -> float:
        refs = [re.sub(r"\s+", " ", normalize(unelide(r))).strip() for r in references]
        hyps = [re.sub(r"\s+", " ", normalize(unelide(h))).strip() for h in hypotheses]
        return float(jiwer.wer(refs, hyps))

    return compute


@pytest.fixture(scope="session")
def wav_bytes() -> Callable[..., bytes]:
    """Samples -> a 16-bit PCM WAV body (what a client would upload); ``subtype="FLOAT"``: a
    32-bit float WAV, its samples as they are."""

    def encode(samples: np.ndarray, rate: int = 16_000, subtype: str = "PCM_16") -> bytes:
        buf = io.BytesIO()
        sf.write(buf, samples, rate, format="WAV", subtype=subtype)
        return buf.getvalue()

    return encode


SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (tests marked ``shared`` skip without it), as the bench reads it."""
    return SHARED_DATA


@pytest.fixture(scope="session")
def shared_clips() -> Callable[[str], list[tuple[Path, float, str]]]:
    """``(path, duration_s, reference)`` rows of ``../shared/data/<folder>/manifest.tsv``."""
    import csv

    def read(folder: str) -> list[tuple[Path, float, str]]:
        with open(SHARED_DATA / folder / "manifest.tsv", encoding="utf-8", newline="") as f:
            rows = csv.DictReader(f, delimiter="\t")
            return [(SHARED_DATA / folder / r["file"], float(r["duration_s"]), r["reference"]) for r in rows]

    return read


@pytest.fixture(scope="session")
def inverted_twin(wav_bytes: Callable[..., bytes], ffmpeg: str) -> Callable[[np.ndarray, str], bytes]:
    """Samples -> stereo whose right channel is the left turned over (a miswired cable), as
    a WAV (``"wav"``: libsndfile reads it) or AAC (``"aac"``: ffmpeg's path)."""

    def encode(samples: np.ndarray, container: str) -> bytes:
        body = wav_bytes(np.stack([samples, -samples], axis=1))
        if container == "wav":
            return body
        cmd = [ffmpeg, "-nostdin", "-loglevel", "error", "-f", "wav", "-i", "pipe:0", "-c:a", "aac"]
        cmd += ["-f", "adts", "pipe:1"]
        return subprocess.run(cmd, input=body, capture_output=True, check=True).stdout

    return encode
