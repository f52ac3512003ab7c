"""Contract: ``inference/`` as ``code/`` under the real sagemaker-huggingface-inference-toolkit.

The toolkit (2.6.0, the DLC's) imports ``model_dir/code/inference.py`` and drives it
through ``HuggingFaceHandlerService.handle`` exactly as the model server does, context and
all; no Java model server is needed in-process.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CODE_DIR = Path(__file__).resolve().parents[2] / "inference"
CONTENT_TYPES = (
    "audio/wav",
    "audio/x-wav",
    "application/octet-stream",
    "audio/ogg",
    "audio/mpeg",
    "audio/x-audio",
)


def _model_dir(tmp: Path, model: Path) -> Path:
    """What SageMaker unpacks model.tar.gz into: the model files plus ``code/``."""
    tmp.mkdir(parents=True, exist_ok=True)
    for item in model.iterdir():
        (tmp / item.name).symlink_to(item)
    (tmp / "code").symlink_to(CODE_DIR)
    return tmp


class Toolkit:
    """One initialised handler service and a way to send it a request."""

    def __init__(self, model_dir: Path) -> None:
        from mms.context import Context
        from mms.metrics.metrics_store import MetricsStore
        from sagemaker_huggingface_inference_toolkit.handler_service import HuggingFaceHandlerService

        self.context = Context("twi-asr", str(model_dir), {}, 1, None, "1.0")
        self.context.metrics = MetricsStore(1, "twi-asr")
        self.service = HuggingFaceHandlerService()

    def handle(self, body: bytes, content_type: str, custom_attributes: str = "", accept: str = "") -> Any:
        from mms.context import RequestProcessor

        headers = {"Content-Type": content_type, "Accept": accept}
        if custom_attributes:
            headers["X-Amzn-SageMaker-Custom-Attributes"] = custom_attributes
        self.context.request_processor = [RequestProcessor(headers)]
        return self.service.handle([{"body": body}], self.context)[0]


def _fresh_import() -> None:
    """The toolkit imports the module named ``inference``; make sure it is ours, from code/."""
    sys.modules.pop("inference", None)


@pytest.fixture(scope="module")
def ct2_toolkit(tmp_path_factory: pytest.TempPathFactory, ct2_model_dir: Path) -> Iterator[Toolkit]:
    _fresh_import()
    yield Toolkit(_model_dir(tmp_path_factory.mktemp("ct2") / "model", ct2_model_dir))
    _fresh_import()


@pytest.fixture(scope="module")
def hf_toolkit(tmp_path_factory: pytest.TempPathFactory, hf_model_dir: Path) -> Iterator[Toolkit]:
    _fresh_import()
    yield Toolkit(_model_dir(tmp_path_factory.mktemp("hf") / "model", hf_model_dir))
    _fresh_import()


# One real clip per content type, and a word its transcript must contain. The type is only
# a hint, so m4a and webm travel as octet-stream and x-audio on purpose.
CLIPS = {
    "audio/wav": ("librivox_0880.wav", "young"),
    "audio/x-wav": ("librivox_0870.wav", "dashwood"),
    "application/octet-stream": ("sonnet1.m4a", "fairest"),
    "audio/ogg": ("jfk.opus", "country"),
    "audio/mpeg": ("jfk.mp3", "americans"),
    "audio/x-audio": ("sonnet1.webm", "creatures"),
}


def _check_answer(raw: Any, engine: str) -> dict[str, Any]:
    result = json.loads(raw)
    assert result["transcript"].strip(), result
    assert result["language"] == "en" and result["metadata"]["language_source"] == "request"
    assert result["metadata"]["engine"] == engine
    assert result["segments"] and all(s["text"] for s in result["segments"])
    return result


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
def test_ct2_answers_every_audio_content_type(
    ct2_toolkit: Toolkit, data_clips: dict, content_type: str
) -> None:
    name, word = CLIPS[content_type]
    body = data_clips[name].path.read_bytes()
    result = _check_answer(
        ct2_toolkit.handle(body, content_type, "language=en", "application/json"), "ctranslate2"
    )
    assert ct2_toolkit.context.get_response_content_type(0) == "application/json"
    assert word in result["transcript"].lower()


# Decoding the audio is the handler's, the same for both engines (every type is checked on
# the default engine above): the transformers engine gets two.
@pytest.mark.shared
@pytest.mark.parametrize("content_type", ["audio/wav", "audio/ogg"])
def test_transformers_answers_audio_through_the_toolkit(
    hf_toolkit: Toolkit, data_clips: dict, content_type: str
) -> None:
    name, word = CLIPS[content_type]
    result = _check_answer(
        hf_toolkit.handle(data_clips[name].path.read_bytes(), content_type, "language=en"), "transformers"
    )
    assert word in result["transcript"].lower()
    assert result["metadata"]["dtype"] == "float32"  # CPU here; FP16 on CUDA (test_endpoint_gpu)


@pytest.mark.parametrize(
    ("body", "content_type", "attributes", "message"),
    [
        (b"", "audio/wav", "", "unsupported audio: the request body (audio/wav, 0 bytes) is empty"),
        (b"just some words", "text/plain", "", "is text, not audio"),
        (b'{"inputs": "x"}', "application/json", "", "is text, not audio"),  # toolkit hands us a str
        (b"\x00\x01garbage" * 100, "audio/x-audio", "filename=x.m4a", "could not decode 'x.m4a' (ffmpeg: "),
        (None, "audio/mpeg", "language=tw", "invalid language 'tw' (from CustomAttributes)"),
        (None, "audio/mpeg", "task=dance", "invalid task 'dance'"),
    ],
)
def test_errors_reach_the_caller_as_400(
    ct2_toolkit: Toolkit,
    data_clips: dict,
    body: bytes | None,
    content_type: str,
    attributes: str,
    message: str,
) -> None:
    from mms.service import PredictionException

    payload = body if body is not None else data_clips["jfk.mp3"].path.read_bytes()
    with pytest.raises(PredictionException) as err:
        ct2_toolkit.handle(payload, content_type, attributes)
    assert err.value.error_code == 400
    assert message in err.value.message


def test_text_accept_returns_the_transcript(ct2_toolkit: Toolkit, data_clips: dict) -> None:
    raw = ct2_toolkit.handle(
        data_clips["jfk.mp3"].path.read_bytes(), "audio/mpeg", "language=en", "text/plain"
    )
    assert raw.decode("utf-8").startswith("And so my fellow Americans")
