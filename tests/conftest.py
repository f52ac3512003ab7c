"""Shared test fixtures: where the test audio and models are.

`tests/data` ships with the project (public-domain / CC0 clips, see its manifest.tsv) and is
always there. `../shared` (bigger models and data) exists in CI and on developer machines
(``TWI_ASR_SHARED`` points elsewhere);
tests that need it are marked `shared` and skip with the reason when it is absent.
"""

from __future__ import annotations

import csv
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "tests" / "data"
SHARED_DIR = Path(os.environ.get("TWI_ASR_SHARED") or ROOT.parent / "shared")  # a copy elsewhere
SHARED_DATA = SHARED_DIR / "data"
SHARED_WHISPER_BASE = SHARED_DIR / "models" / "whisper-base"
SHARED_REASON = f"needs ../shared (test models and data), not found at {SHARED_DIR}"


@dataclass(frozen=True)
class Clip:
    path: Path
    duration_s: float
    reference: str


def read_manifest(folder: Path) -> list[Clip]:
    """Rows of a `manifest.tsv` (file, duration_s, reference, ...) as clips."""
    with open(folder / "manifest.tsv", encoding="utf-8", newline="") as f:
        return [
            Clip(folder / row["file"], float(row["duration_s"]), row["reference"])
            for row in csv.DictReader(f, delimiter="\t")
        ]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_shared = pytest.mark.skip(reason=SHARED_REASON)
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    has_gpu = _has_cuda()
    for item in items:
        if "shared" in item.keywords and not SHARED_DATA.is_dir():
            item.add_marker(skip_shared)
        if "gpu" in item.keywords and not has_gpu:
            item.add_marker(skip_gpu)


def _has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


@pytest.fixture(scope="session")
def data_clips() -> dict[str, Clip]:
    """The clips shipped in tests/data, by file name."""
    return {c.path.name: c for c in read_manifest(DATA_DIR)}


@pytest.fixture(scope="session")
def ct2_model_dir() -> Path:
    """The offline default model (Whisper base, CTranslate2), assembled from PyPI packages."""
    from twi_asr.default_model import default_model_dir

    return default_model_dir(announce=False)


@pytest.fixture(scope="session")
def hf_model_dir() -> Path:
    """OpenAI Whisper base in transformers format, from ../shared."""
    if not (SHARED_WHISPER_BASE / "config.json").is_file():
        pytest.skip(SHARED_REASON)
    return SHARED_WHISPER_BASE


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    exe = shutil.which("ffmpeg")
    if exe is None:
        pytest.fail("ffmpeg is not installed: `make setup` installs it")
    return exe
