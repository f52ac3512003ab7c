"""On CUDA the transformers engine must really run FP16 (skipped without a GPU)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = [pytest.mark.gpu, pytest.mark.shared]


def test_transformers_runs_fp16_on_cuda(hf_model_dir: Path, data_clips: dict) -> None:
    import torch

    from twi_asr.local_model import LocalModel

    model = LocalModel(hf_model_dir)
    engine = model.engine
    assert (engine.device, engine.dtype) == ("cuda", "float16")
    params = next(engine._model.parameters())
    assert params.is_cuda and params.dtype == torch.float16  # what really runs, not a label
    result = json.loads(model.invoke(data_clips["jfk.mp3"].path.read_bytes(), "audio/mpeg", "language=en"))
    assert (result["metadata"]["device"], result["metadata"]["dtype"]) == ("cuda", "float16")
    assert "country" in result["transcript"].lower()
    assert result["metadata"]["batch_size"] == 16


def test_ctranslate2_runs_fp16_on_cuda(ct2_model_dir: Path, data_clips: dict) -> None:
    from twi_asr.local_model import LocalModel

    model = LocalModel(ct2_model_dir)
    result = json.loads(model.invoke(data_clips["jfk.mp3"].path.read_bytes(), "audio/mpeg", "language=en"))
    assert result["metadata"]["device"] == "cuda" and result["metadata"]["dtype"] == "float16"
    assert "country" in result["transcript"].lower()
