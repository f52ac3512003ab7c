"""Build the ``model.tar.gz`` that a SageMaker endpoint loads.

SageMaker unpacks the archive into ``/opt/ml/model``; the Hugging Face inference toolkit then
imports ``code/inference.py`` from it and hands the directory to ``model_fn``. So the archive
holds the model files at its root and the project's ``inference/`` folder as ``code/``.

The endpoint picks its engine from the files (``twi_endpoint.engines.detect_engine``, which
packaging uses too), so nothing else is written: what is in the archive is what runs. A
transformers checkpoint is converted to CTranslate2 (float16) by default: that engine was the
fastest in ``make bench`` on CPU and GPU, at the best accuracy (README, Performance);
``engine="transformers"`` keeps it as is.

The archive is deterministic (sorted names, zero mtimes and owners): the same model and
code give the same bytes, so the CDK asset hash, and with it the endpoint, only change when
the content does.

Usage: ``python -m twi_infra.package --model DIR [--engine transformers|ctranslate2] --out model.tar.gz``
(``make package``). The CDK app calls ``package`` for a local model directory.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from twi_contract import LANGUAGE_DECLARATION_FILE, language_token, write_language_declaration
from twi_endpoint.engines import CTRANSLATE2, ENGINES, TRANSFORMERS, detect_engine
from twi_endpoint.errors import ModelLoadError

from twi_infra.paths import ENDPOINT_CODE_DIR
from twi_infra.runtime_values import ENTRY_POINT
from twi_infra.wheels import (
    DLC_PYTHON_VERSION,
    WHEELS_DIRNAME,
    WheelError,
    WheelTarget,
    download,
    stage_offline_code,
)

CODE_ARCNAME: Final = "code"
CT2_QUANTIZATION: Final = "float16"  # stored type; the engine picks int8 on CPU at load time
# Files faster-whisper reads next to model.bin; without tokenizer.json it would fetch one
# from the Hugging Face Hub, which an isolated endpoint cannot reach.
CT2_COPIED_FILES: Final = ("tokenizer.json", "preprocessor_config.json", LANGUAGE_DECLARATION_FILE)
CT2_REQUIRED_FILES: Final = ("model.bin", "config.json", "tokenizer.json")
_SKIPPED_NAMES: Final = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".DS_Store"})
# `pip install -e .` writes twi_asr.egg-info into inference/ (the contract module's folder)
_SKIPPED_DIR_SUFFIXES: Final = (".egg-info",)
_SKIPPED_SUFFIXES: Final = (".pyc", ".pyo")
GZIP_LEVEL: Final = 1  # weights barely compress (about 8% at level 6): higher levels only cost time


class PackageError(ValueError):
    """The model directory or the options cannot make a valid archive; the message says why."""


@dataclass(frozen=True)
class PackageResult:
    archive: Path
    engine: str  # the format of the packaged model: "transformers", "ctranslate2" or "none"
    converted: bool  # True when a transformers checkpoint was converted to CTranslate2
    members: tuple[str, ...]  # names in the archive, in order
    seconds: float


def model_format(model_dir: Path) -> str:
    """``"ctranslate2"`` or ``"transformers"``, as the endpoint decides it; a transformers
    checkpoint must also be Whisper, which the endpoint would only find out when loading it."""
    try:
        found = detect_engine(model_dir)
    except ModelLoadError as exc:
        raise PackageError(str(exc)) from None
    if found == TRANSFORMERS:
        model_type = json.loads((model_dir / "config.json").read_text(encoding="utf-8")).get("model_type")
        if model_type != "whisper":
            raise PackageError(
                f"{model_dir} holds a {model_type!r} model, not Whisper (config.json model_type)"
            )
    return found


def convert_to_ctranslate2(model_dir: Path, out_dir: Path, quantization: str = CT2_QUANTIZATION) -> Path:
    """Convert a transformers Whisper checkpoint into a faster-whisper directory at ``out_dir``."""
    try:
        from ctranslate2.converters import TransformersConverter
    except ImportError as exc:  # pragma: no cover - part of the endpoint extra
        raise PackageError(
            "ENGINE=ctranslate2 needs the ctranslate2 package (pip install ctranslate2)"
        ) from exc
    missing = [n for n in ("tokenizer.json",) if not (model_dir / n).is_file()]
    if missing:
        raise PackageError(
            f"cannot convert {model_dir}: {', '.join(missing)} is missing, and faster-whisper would "
            "otherwise download a tokenizer at run time"
        )
    copy = [n for n in CT2_COPIED_FILES if (model_dir / n).is_file()]

    class _Converter(TransformersConverter):
        """ctranslate2 4.8 passes ``dtype=`` to ``from_pretrained``, which transformers only
        understands from 4.56; the production version (4.51.3) calls it ``torch_dtype``."""

        def load_model(self, model_class: Any, model_name_or_path: str, **kwargs: Any) -> Any:
            if "dtype" in kwargs and not _transformers_takes_dtype():
                kwargs["torch_dtype"] = kwargs.pop("dtype")
            return model_class.from_pretrained(model_name_or_path, **kwargs)

    converter = _Converter(str(model_dir), copy_files=copy, load_as_float16=True)
    converter.convert(str(out_dir), quantization=quantization, force=True)
    return out_dir


def _transformers_takes_dtype() -> bool:
    import transformers

    major, minor = (int(p) for p in transformers.__version__.split(".")[:2])
    return (major, minor) >= (4, 56)


def _walk(root: Path) -> Iterator[Path]:
    """Files below ``root`` in sorted order, skipping caches; symlinks are followed."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(
            d for d in dirnames if d not in _SKIPPED_NAMES and not d.endswith(_SKIPPED_DIR_SUFFIXES)
        )
        for name in sorted(filenames):
            if name in _SKIPPED_NAMES or name.endswith(_SKIPPED_SUFFIXES):
                continue
            yield Path(dirpath) / name


def _add(tar: tarfile.TarFile, path: Path, arcname: str) -> None:
    info = tar.gettarinfo(str(path), arcname=arcname)
    if not info.isfile():  # gettarinfo does not follow a symlink; the archive holds content
        info = tar.gettarinfo(str(path.resolve()), arcname=arcname)
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o644
    with open(path, "rb") as f:
        tar.addfile(info, f)


def write_archive(out: Path, model_dir: Path | None, code_dir: Path = ENDPOINT_CODE_DIR) -> tuple[str, ...]:
    """Write ``out`` with ``model_dir``'s files at the root and ``code_dir`` as ``code/``.

    ``model_dir=None`` writes the code alone: for an endpoint that fetches its weights from
    the Hugging Face Hub (``HF_MODEL_ID``) but still runs our ``inference.py``. The file is
    written under a temporary name and renamed, so an interrupted run leaves no half archive.
    """
    if not (code_dir / ENTRY_POINT).is_file():
        raise PackageError(f"{code_dir / ENTRY_POINT} not found: the endpoint code ships as code/")
    entries: list[tuple[Path, str]] = []
    if model_dir is not None:
        for path in _walk(model_dir):
            rel = path.relative_to(model_dir).as_posix()
            if rel == CODE_ARCNAME or rel.startswith(CODE_ARCNAME + "/"):
                raise PackageError(f"{model_dir} already has a code/ folder; it would shadow {code_dir}")
            entries.append((path, rel))
    entries += [(p, f"{CODE_ARCNAME}/{p.relative_to(code_dir).as_posix()}") for p in _walk(code_dir)]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        with (
            open(tmp, "wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=GZIP_LEVEL, mtime=0) as gz,
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            for path, arcname in entries:
                _add(tar, path, arcname)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return tuple(arcname for _, arcname in entries)


def package(
    model_dir: Path | None,
    out: Path,
    engine: str | None = None,
    code_dir: Path = ENDPOINT_CODE_DIR,
    wheels: WheelTarget | None = WheelTarget(),  # noqa: B008 - frozen, so one shared default is safe
) -> PackageResult:
    """Package ``model_dir`` for ``engine``, converting transformers -> CTranslate2 when needed.

    ``engine=None`` means CTranslate2: a transformers checkpoint is converted. ``wheels``: the
    container's packages go into ``code/wheels/`` for that interpreter (default: the DLC's),
    so that it starts with no network; ``None`` leaves ``code/requirements.txt`` to the index.
    """
    if wheels is None:
        return _package(model_dir, out, engine, code_dir)
    try:
        found = download(code_dir / "requirements.txt", wheels)
    except WheelError as exc:
        raise PackageError(str(exc)) from None
    with tempfile.TemporaryDirectory(prefix="twi-asr-code-") as tmp:
        staged = stage_offline_code(
            code_dir, found, Path(tmp) / "code", (*_SKIPPED_NAMES, "*.pyc", "*.pyo", "*.egg-info")
        )
        return _package(model_dir, out, engine, staged)


def _package(model_dir: Path | None, out: Path, engine: str | None, code_dir: Path) -> PackageResult:
    start = time.perf_counter()
    if engine is not None and engine not in ENGINES:
        raise PackageError(f"unknown engine {engine!r}: expected one of {', '.join(ENGINES)}")
    if model_dir is None:
        members = write_archive(out, None, code_dir)
        return PackageResult(out, "none", False, members, time.perf_counter() - start)
    found = model_format(model_dir)
    engine = engine or CTRANSLATE2
    if found == CTRANSLATE2 and engine == TRANSFORMERS:
        raise PackageError(
            f"{model_dir} is a CTranslate2 model; it cannot be turned back into a "
            "transformers checkpoint: package it with ENGINE=ctranslate2"
        )
    if found == CTRANSLATE2:
        missing = [n for n in CT2_REQUIRED_FILES if not (model_dir / n).is_file()]
        if missing:
            raise PackageError(f"{model_dir} lacks {', '.join(missing)}, which faster-whisper needs")
    if found == TRANSFORMERS and engine == CTRANSLATE2:
        with tempfile.TemporaryDirectory(prefix="twi-asr-ct2-") as tmp:
            converted = convert_to_ctranslate2(model_dir, Path(tmp) / "model")
            members = write_archive(out, converted, code_dir)
        return PackageResult(out, CTRANSLATE2, True, members, time.perf_counter() - start)
    members = write_archive(out, model_dir, code_dir)
    return PackageResult(out, found, False, members, time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m twi_infra.package",
        description="Build model.tar.gz for the SageMaker endpoint: model files at the root, "
        "inference/ as code/.",
    )
    parser.add_argument("--model", type=Path, required=True, help="Whisper model directory")
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default=None,
        help="default ctranslate2: a transformers checkpoint is converted (float16), the fastest "
        "engine in make bench; transformers keeps the checkpoint as is",
    )
    parser.add_argument("--out", type=Path, default=Path("model.tar.gz"))
    parser.add_argument(
        "--language-token",
        type=language_token,
        help="the token the checkpoint was trained with for Twi (yo, en...), or none: written to "
        f"{LANGUAGE_DECLARATION_FILE} beside the weights, which the endpoint reads",
    )
    parser.add_argument(
        "--python-version",
        default=DLC_PYTHON_VERSION,
        help=f"interpreter the bundled wheels are for (default {DLC_PYTHON_VERSION}, the DLC's)",
    )
    parser.add_argument(
        "--no-wheels",
        action="store_true",
        help="leave code/requirements.txt to a package index (the container then needs the internet)",
    )
    args = parser.parse_args(argv)
    try:
        if args.language_token and args.model.is_dir():  # a missing folder: package() says so
            write_language_declaration(args.model, args.language_token)
        target = None if args.no_wheels else WheelTarget(python_version=args.python_version)
        result = package(args.model, args.out, args.engine, wheels=target)
    except PackageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    size_mb = result.archive.stat().st_size / 1e6
    how = "converted to CTranslate2 float16, " if result.converted else ""
    print(
        f"{result.archive}: {result.engine} model, {how}{len(result.members)} files, "
        f"{size_mb:.1f} MB in {result.seconds:.1f} s"
    )
    bundled = [m for m in result.members if m.startswith(f"{CODE_ARCNAME}/{WHEELS_DIRNAME}/")]
    if bundled:
        print(
            f"  {len(bundled)} wheels for Python {args.python_version} in code/{WHEELS_DIRNAME}/: "
            "the container installs them with no network"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
