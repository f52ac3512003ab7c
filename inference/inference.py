"""SageMaker entry module: the four functions the HF inference toolkit calls.

Deliberately thin. Each takes the toolkit's optional ``context`` (the model server's
context; it carries the request headers, CustomAttributes included). The work lives in
``twi_endpoint`` beside this file (``code/`` is on ``sys.path`` inside the container). Errors
the caller can fix are ``twi_endpoint.errors.TwiAsrError``; the toolkit returns their
message with status 400. A coalesced request (several short files in one body,
``twi_contract.BATCH_CONTENT_TYPE``) takes the same four functions and is answered with one
result or error per file.
"""

from __future__ import annotations

from typing import Any

from twi_endpoint.request import custom_attributes_from_context
from twi_endpoint.service import (
    AudioRequest,
    BatchRequest,
    LoadedModel,
    encode_output,
    load_model,
    prepare_request,
    transcribe,
)


def model_fn(model_dir: str, context: Any = None) -> LoadedModel:
    return load_model(model_dir)


def input_fn(data: bytes | str, content_type: str, context: Any = None) -> AudioRequest | BatchRequest:
    return prepare_request(data, content_type, custom_attributes_from_context(context))


def predict_fn(data: AudioRequest | BatchRequest, model: LoadedModel, context: Any = None) -> dict[str, Any]:
    return transcribe(data, model)


def output_fn(prediction: dict[str, Any], accept: str, context: Any = None) -> bytes:
    return encode_output(prediction, accept)
