"""What the four SageMaker functions do, as plain functions with typed inputs and outputs.

``inference.py`` stays a thin adapter; everything here is testable without the toolkit.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
from twi_contract import ACCEPT_JSON, ACCEPT_TEXT, MetadataKeys, ResultKeys

from twi_endpoint.audio import decode_audio
from twi_endpoint.engines import load_engine
from twi_endpoint.errors import InvalidRequestError
from twi_endpoint.gate import check_speech
from twi_endpoint.request import (
    ModelLanguages,
    RequestOptions,
    bind_language,
    read_model_languages,
    resolve_options,
)
from twi_endpoint.result import Timings, build_result, to_json
from twi_endpoint.settings import EndpointSettings
from twi_endpoint.types import SAMPLE_RATE, DecodeOptions, Engine, Transcription

logger = logging.getLogger(__name__)

JSON_TYPES: Final = (ACCEPT_JSON, "*/*", "")
TEXT_TYPES: Final = (ACCEPT_TEXT,)


@functools.cache
def settings() -> EndpointSettings:
    """Read the environment once per process (the toolkit gives ``input_fn`` no model state)."""
    return EndpointSettings.from_env()


@dataclass
class LoadedModel:
    """What ``model_fn`` returns: the engine plus what requests are checked against."""

    engine: Engine
    languages: ModelLanguages  # the checkpoint's language tokens, and its token for Twi
    settings: EndpointSettings


@dataclass(frozen=True)
class AudioRequest:
    """What ``input_fn`` returns: decoded audio and the request's options."""

    audio: np.ndarray  # mono float32, SAMPLE_RATE
    options: RequestOptions
    started: float  # time.perf_counter() when the request arrived
    decode_time_sec: float
    input_format: str

    @property
    def duration(self) -> float:
        return len(self.audio) / SAMPLE_RATE


def load_model(model_dir: str | Path, endpoint_settings: EndpointSettings | None = None) -> LoadedModel:
    """``model_fn``: load the engine once; a configured language the model lacks fails here,
    at start-up, rather than on every request."""
    cfg = endpoint_settings or settings()
    languages = read_model_languages(model_dir)
    bind_language(DecodeOptions(cfg.language), languages, "config")
    engine = load_engine(model_dir, cfg)
    logger.info("loaded %s with %s on %s (%s)", engine.model_name, engine.name, engine.device, engine.dtype)
    return LoadedModel(engine, languages, cfg)


def prepare_request(
    data: bytes | bytearray | str,
    content_type: str | None,
    custom_attributes: str = "",
    endpoint_settings: EndpointSettings | None = None,
) -> AudioRequest:
    """``input_fn``: options from CustomAttributes, bytes to 16 kHz audio; the clock starts here."""
    started = time.perf_counter()
    cfg = endpoint_settings or settings()
    options = resolve_options(custom_attributes, cfg)
    body = data.encode("utf-8") if isinstance(data, str) else data  # the toolkit decodes JSON/CSV to str
    decoded = decode_audio(
        body,
        content_type,
        options.filename,
        max_seconds=cfg.max_audio_seconds,
        min_seconds=cfg.min_audio_seconds,
        ffmpeg=cfg.ffmpeg,
        timeout=cfg.decode_timeout_seconds,
    )
    return AudioRequest(decoded.samples, options, started, time.perf_counter() - started, decoded.format)


def transcribe(request: AudioRequest, model: LoadedModel) -> dict[str, Any]:
    """``predict_fn``: language check, silence gate, engine, result with timings."""
    opts = request.options
    decode = bind_language(opts.decode, model.languages, opts.language_source, opts.asked)
    cfg = model.settings
    t0 = time.perf_counter()
    gate = check_speech(request.audio, cfg.silence_dbfs, cfg.vad, cfg.min_speech_seconds)
    if gate.has_speech:
        transcription = model.engine.transcribe(request.audio, decode, gate.activity)
        if transcription.language_source != "detected":
            transcription.language_source = opts.language_source
    else:
        transcription = Transcription("", decode.language, [], 0, opts.language_source)
    detected = transcription.language_source == "detected"
    token = transcription.language if detected else decode.language_token
    done = time.perf_counter()
    engine = model.engine
    return build_result(
        transcription,
        Timings(request.duration, done - request.started, request.decode_time_sec, done - t0),
        engine=engine.name,
        model=engine.model_name,
        device=engine.device,
        dtype=engine.dtype,
        batch_size=engine.batch_size,
        task=opts.decode.task,
        extra={
            MetadataKeys.LANGUAGE_TOKEN: token,
            MetadataKeys.GATE: gate.reason,
            MetadataKeys.INPUT_FORMAT: request.input_format,
        },
    )


def encode_output(result: dict[str, Any], accept: str | None) -> bytes:
    """``output_fn``: UTF-8 JSON (default), or the bare transcript for ``text/plain``."""
    kind = (accept or "").split(";")[0].strip().lower()
    if kind in JSON_TYPES:
        return to_json(result)
    if kind in TEXT_TYPES:
        return str(result[ResultKeys.TRANSCRIPT]).encode("utf-8")
    raise InvalidRequestError(f"unsupported Accept {accept!r}: use {ACCEPT_JSON} or {ACCEPT_TEXT}")
