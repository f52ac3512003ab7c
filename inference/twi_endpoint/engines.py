"""Pick and load the engine from what the model directory contains.

``model.bin`` is a CTranslate2 conversion (faster-whisper); ``config.json`` plus
``*.safetensors``/``pytorch_model.bin`` is a transformers checkpoint. ``TWI_ASR_ENGINE``
overrides the guess. Engine modules are imported lazily so that a deployment only needs the
libraries of the engine it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from twi_endpoint.errors import ModelLoadError
from twi_endpoint.settings import EndpointSettings
from twi_endpoint.types import Engine

TRANSFORMERS: Final = "transformers"
CTRANSLATE2: Final = "ctranslate2"
ENGINES: Final = (TRANSFORMERS, CTRANSLATE2)
_HF_WEIGHTS: Final = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


def detect_engine(model_dir: str | Path) -> str:
    """``"ctranslate2"`` or ``"transformers"``; a clear error for anything else."""
    path = Path(model_dir)
    if not path.is_dir():
        raise ModelLoadError(f"model directory {str(path)!r} does not exist")
    if (path / "model.bin").is_file():
        return CTRANSLATE2
    if (path / "config.json").is_file() and any((path / w).is_file() for w in _HF_WEIGHTS):
        return TRANSFORMERS
    found = ", ".join(sorted(p.name for p in path.iterdir())[:12]) or "nothing"
    raise ModelLoadError(
        f"model directory {str(path)!r} holds no Whisper model: expected model.bin (CTranslate2) or "
        f"config.json with model.safetensors/pytorch_model.bin (transformers); found {found}"
    )


def load_engine(model_dir: str | Path, settings: EndpointSettings) -> Engine:
    """Load the engine named in settings, or the one the directory's format implies."""
    kind = settings.engine or detect_engine(model_dir)
    if kind == TRANSFORMERS:
        from twi_endpoint.hf_engine import load_transformers_engine

        return load_transformers_engine(
            model_dir, device=settings.device, batch_size=settings.batch_size, beam_size=settings.beam_size
        )
    if kind == CTRANSLATE2:
        from twi_endpoint.ct2_engine import load_ctranslate2_engine

        return load_ctranslate2_engine(
            model_dir,
            device=settings.device,
            batch_size=settings.batch_size,
            cpu_encoder=settings.cpu_encoder,
            beam_size=settings.beam_size,
        )
    raise ModelLoadError(f"unknown engine {kind!r} (TWI_ASR_ENGINE): expected one of {', '.join(ENGINES)}")
