"""What the four SageMaker functions do, as plain functions with typed inputs and outputs.

``inference.py`` stays a thin adapter; everything here is testable without the toolkit.

A coalesced request (``twi_contract.BATCH_CONTENT_TYPE``: several short files in one body,
each with its own CustomAttributes) takes the same steps per file as a single request,
except that the files with speech go to the engine in one call, which decodes their windows
in shared batches. What fails one file (it does not decode, its options are invalid, the
model lacks its language) becomes that file's error entry; the others go on.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

import numpy as np
from twi_contract import (
    ACCEPT_JSON,
    ACCEPT_TEXT,
    BATCH_CONTENT_TYPE,
    KEY_FILENAME,
    BatchItem,
    BatchKeys,
    MetadataKeys,
    ResultKeys,
    parse_custom_attributes,
    unpack_batch,
)

from twi_endpoint.audio import decode_audio
from twi_endpoint.engines import load_engine
from twi_endpoint.errors import InvalidRequestError, TwiAsrError
from twi_endpoint.gate import GateDecision, check_speech
from twi_endpoint.request import (
    ModelLanguages,
    RequestOptions,
    bind_language,
    read_model_languages,
    resolve_options,
)
from twi_endpoint.result import Timings, build_batch_result, build_result, share_by_duration, to_json
from twi_endpoint.segmentation import usable_cpu_count
from twi_endpoint.settings import EndpointSettings
from twi_endpoint.types import SAMPLE_RATE, DecodeOptions, Engine, Transcription

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
_R = TypeVar("_R")

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


@dataclass(frozen=True)
class BatchFile:
    """One file of a coalesced request: prepared as a single request, or why it could not be."""

    id: str  # as the request named it; its answer carries it back
    name: str  # its CustomAttributes filename, else its id: what its error message calls it
    request: AudioRequest | TwiAsrError


@dataclass(frozen=True)
class BatchRequest:
    """What ``input_fn`` returns for a coalesced request: its files, in the request's order."""

    files: tuple[BatchFile, ...]
    started: float  # time.perf_counter() when the request arrived


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
) -> AudioRequest | BatchRequest:
    """``input_fn``: options from CustomAttributes, bytes to 16 kHz audio; the clock starts here.

    A coalesced request (``BATCH_CONTENT_TYPE``) is unpacked and each of its files prepared
    the same way with its own content type and CustomAttributes (the request's own header
    is not used for them). An archive that cannot be read fails the whole request.
    """
    cfg = endpoint_settings or settings()
    if _media_type(content_type) == BATCH_CONTENT_TYPE:
        return _prepare_batch(_body(data), cfg)
    return _prepare_file(_body(data), content_type, custom_attributes, cfg)


def transcribe(request: AudioRequest | BatchRequest, model: LoadedModel) -> dict[str, Any]:
    """``predict_fn``: language check, silence gate, engine, result with timings."""
    if isinstance(request, BatchRequest):
        return _transcribe_batch(request, model)
    decode = _bind_language(request, model)
    t0 = time.perf_counter()
    gate = _check_speech(request, model)
    transcription = model.engine.transcribe(request.audio, decode, gate.activity) if gate.has_speech else None
    done = time.perf_counter()
    timings = Timings(request.duration, done - request.started, request.decode_time_sec, done - t0)
    return _file_result(request, model, decode, gate, transcription, timings)


def encode_output(result: dict[str, Any], accept: str | None) -> bytes:
    """``output_fn``: UTF-8 JSON (default), or the bare transcript for ``text/plain`` (not
    for a coalesced request: its answer is one result or error per file)."""
    kind = _media_type(accept)
    if kind in JSON_TYPES:
        return to_json(result)
    if kind in TEXT_TYPES and BatchKeys.ITEMS in result:
        raise InvalidRequestError(
            f"unsupported Accept {accept!r} for a coalesced request ({BATCH_CONTENT_TYPE}): "
            f"its answer is one result or error per file, use {ACCEPT_JSON}"
        )
    if kind in TEXT_TYPES:
        return str(result[ResultKeys.TRANSCRIPT]).encode("utf-8")
    raise InvalidRequestError(f"unsupported Accept {accept!r}: use {ACCEPT_JSON} or {ACCEPT_TEXT}")


# --- one file ----------------------------------------------------------------------------
def _prepare_file(
    body: bytes | bytearray,
    content_type: str | None,
    custom_attributes: str,
    cfg: EndpointSettings,
    name: str | None = None,
) -> AudioRequest:
    """One file's options and audio; ``name`` calls it in messages when its CustomAttributes
    give no filename."""
    started = time.perf_counter()
    options = resolve_options(custom_attributes, cfg)
    decoded = decode_audio(
        body,
        content_type,
        options.filename or name,
        max_seconds=cfg.max_audio_seconds,
        min_seconds=cfg.min_audio_seconds,
        ffmpeg=cfg.ffmpeg,
        timeout=cfg.decode_timeout_seconds,
    )
    return AudioRequest(decoded.samples, options, started, time.perf_counter() - started, decoded.format)


def _bind_language(request: AudioRequest, model: LoadedModel) -> DecodeOptions:
    opts = request.options
    return bind_language(opts.decode, model.languages, opts.language_source, opts.asked)


def _check_speech(request: AudioRequest, model: LoadedModel) -> GateDecision:
    cfg = model.settings
    return check_speech(request.audio, cfg.silence_dbfs, cfg.vad, cfg.min_speech_seconds)


def _file_result(
    request: AudioRequest,
    model: LoadedModel,
    decode: DecodeOptions,
    gate: GateDecision,
    transcription: Transcription | None,
    timings: Timings,
) -> dict[str, Any]:
    """One file's result; ``transcription`` None: the gate kept it from the engine."""
    opts = request.options
    if transcription is None:
        transcription = Transcription("", decode.language, [], 0, opts.language_source)
    elif transcription.language_source != "detected":
        transcription.language_source = opts.language_source
    detected = transcription.language_source == "detected"
    token = transcription.language if detected else decode.language_token
    engine = model.engine
    return build_result(
        transcription,
        timings,
        engine=engine.name,
        model=engine.model_name,
        device=engine.device,
        dtype=engine.dtype,
        batch_size=engine.batch_size,
        task=opts.decode.task,
        extra={
            MetadataKeys.BEAM_SIZE: engine.beam_size,
            MetadataKeys.LANGUAGE_TOKEN: token,
            MetadataKeys.GATE: gate.reason,
            MetadataKeys.INPUT_FORMAT: request.input_format,
        },
    )


# --- a coalesced request -------------------------------------------------------------------
@dataclass(frozen=True)
class _Admitted:
    """A file of a coalesced request past its language check and silence gate."""

    index: int  # its place in the request
    request: AudioRequest
    decode: DecodeOptions
    gate: GateDecision
    gate_time_sec: float


def _prepare_batch(body: bytes | bytearray, cfg: EndpointSettings) -> BatchRequest:
    started = time.perf_counter()
    try:
        items = unpack_batch(bytes(body))
    except ValueError as exc:
        raise InvalidRequestError(f"unreadable coalesced request ({BATCH_CONTENT_TYPE}): {exc}") from None

    def prepare(item: BatchItem) -> BatchFile:
        name = parse_custom_attributes(item.custom_attributes).get(KEY_FILENAME) or item.id
        request: AudioRequest | TwiAsrError
        try:
            request = _prepare_file(item.body, item.content_type, item.custom_attributes, cfg, name)
        except TwiAsrError as exc:
            request = exc
        return BatchFile(item.id, name, request)

    return BatchRequest(tuple(_side_by_side(prepare, items)), started)


def _side_by_side(work: Callable[[_T], _R], items: Sequence[_T]) -> list[_R]:
    """``work`` on every item, on as many threads as there are usable cores, in order.

    A coalesced request's per-file steps before the model (decoding: ffmpeg or libsndfile
    and the resampler; the silence gate: Silero VAD in onnxruntime) release the GIL, and
    done one file after another they left the second core idle: on 2 cores, 10 files of
    ~8 s, 0.46 s of 15.8 s per request."""
    workers = min(len(items), usable_cpu_count())
    if workers <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(workers, thread_name_prefix="batch-file") as pool:
        return list(pool.map(work, items))


def _transcribe_batch(batch: BatchRequest, model: LoadedModel) -> dict[str, Any]:
    """Each file's language check and silence gate, then one engine call for every file
    with speech, then each file's result. Timings per file: its own decode and gate time,
    plus the engine call's time shared by audio duration (``result.INFERENCE_TIME_SPLIT``),
    so each file has its own ``rtf``."""
    t0 = time.perf_counter()
    entries: list[dict[str, Any]] = [{} for _ in batch.files]
    bound: list[tuple[int, AudioRequest, DecodeOptions]] = []
    for index, file in enumerate(batch.files):
        if isinstance(file.request, TwiAsrError):  # it did not decode, or its options are invalid
            entries[index] = _error_entry(file, file.request)
            continue
        try:
            bound.append((index, file.request, _bind_language(file.request, model)))
        except TwiAsrError as exc:  # a language this model has no token for
            entries[index] = _error_entry(file, exc)

    def gate(item: tuple[int, AudioRequest, DecodeOptions]) -> _Admitted:
        index, request, decode = item
        started = time.perf_counter()
        decision = _check_speech(request, model)
        return _Admitted(index, request, decode, decision, time.perf_counter() - started)

    admitted = _side_by_side(gate, bound)
    from_engine = _transcribe_together([a for a in admitted if a.gate.has_speech], model)
    transcribed: list[AudioRequest] = []
    for a in admitted:
        answer, share = from_engine.get(a.index, (None, 0.0))  # None: the gate found no speech
        file = batch.files[a.index]
        if isinstance(answer, Exception):
            entries[a.index] = _error_entry(file, answer)
            continue
        inference = a.gate_time_sec + share
        decode_time = a.request.decode_time_sec
        timings = Timings(a.request.duration, decode_time + inference, decode_time, inference)
        result = _file_result(a.request, model, a.decode, a.gate, answer, timings)
        entries[a.index] = {BatchKeys.ID: file.id, BatchKeys.RESULT: result}
        transcribed.append(a.request)
    done = time.perf_counter()
    decoded = [f.request for f in batch.files if isinstance(f.request, AudioRequest)]
    results = [e[BatchKeys.RESULT] for e in entries if BatchKeys.RESULT in e]
    engine = model.engine
    return build_batch_result(
        entries,
        Timings(
            sum(r.duration for r in transcribed),  # the audio answered with a result
            done - batch.started,
            sum(r.decode_time_sec for r in decoded),  # every file decoded, answered or not
            done - t0,
        ),
        failed=len(entries) - len(results),
        chunks=sum(r[ResultKeys.METADATA][MetadataKeys.CHUNKS] for r in results),
        extra={
            MetadataKeys.DEVICE: engine.device,
            MetadataKeys.DTYPE: engine.dtype,
            MetadataKeys.ENGINE: engine.name,
            MetadataKeys.MODEL: engine.model_name,
            MetadataKeys.BATCH_SIZE: engine.batch_size,
            MetadataKeys.BEAM_SIZE: engine.beam_size,
        },
    )


def _transcribe_together(
    speech: list[_Admitted], model: LoadedModel
) -> dict[int, tuple[Transcription | Exception, float]]:
    """One engine call for the files with speech; by their place in the request, each
    one's answer and its share of the call's seconds (:func:`share_by_duration`)."""
    if not speech:
        return {}
    started = time.perf_counter()
    answers = model.engine.transcribe_many([(a.request.audio, a.decode, a.gate.activity) for a in speech])
    shares = share_by_duration(time.perf_counter() - started, [a.request.duration for a in speech])
    return {a.index: (answer, share) for a, answer, share in zip(speech, answers, shares, strict=True)}


def _error_entry(file: BatchFile, exc: Exception) -> dict[str, Any]:
    """The answer for a file that failed alone: its id and why, naming the file (a decode
    error names it already; others are prefixed with its name)."""
    message = str(exc)
    if repr(file.name) not in message:
        message = f"{file.name!r}: {message}"
    logger.info("coalesced request: file %s failed: %s", file.id, message)
    return {BatchKeys.ID: file.id, BatchKeys.ERROR: message}


def _body(data: bytes | bytearray | str) -> bytes | bytearray:
    return data.encode("utf-8") if isinstance(data, str) else data  # the toolkit decodes JSON/CSV to str


def _media_type(value: str | None) -> str:
    """``"Application/JSON; charset=utf-8"`` -> ``"application/json"``."""
    return (value or "").split(";")[0].strip().lower()
