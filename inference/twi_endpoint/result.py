"""The endpoint's JSON result, what the complete Lambda and users read; field names from ``twi_contract``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from twi_contract import MetadataKeys as Meta
from twi_contract import ResultKeys, SegmentKeys, WordKeys

from twi_endpoint.types import Segment, Transcription, Word

ROUND_SECONDS = 3  # millisecond precision for every time in the result


@dataclass(frozen=True)
class Timings:
    audio_duration_sec: float
    processing_time_sec: float  # decode + inference, what the caller waited for
    decode_time_sec: float
    inference_time_sec: float


def build_result(
    transcription: Transcription,
    timings: Timings,
    *,
    engine: str,
    model: str,
    device: str,
    dtype: str,
    batch_size: int,
    task: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble the result. ``rtf`` is computed from the *rounded* values written beside it,
    so ``rtf == processing_time_sec / audio_duration_sec`` holds exactly for any reader."""
    duration = round(timings.audio_duration_sec, ROUND_SECONDS)
    processing = round(timings.processing_time_sec, ROUND_SECONDS)
    metadata: dict[str, Any] = {
        Meta.AUDIO_DURATION_SEC: duration,
        Meta.PROCESSING_TIME_SEC: processing,
        Meta.RTF: processing / duration if duration > 0 else 0.0,
        Meta.DEVICE: device,
        Meta.DTYPE: dtype,
        Meta.ENGINE: engine,
        Meta.MODEL: model,
        Meta.BATCH_SIZE: batch_size,
        Meta.CHUNKS: transcription.chunks,
        Meta.DECODE_TIME_SEC: round(timings.decode_time_sec, ROUND_SECONDS),
        Meta.INFERENCE_TIME_SEC: round(timings.inference_time_sec, ROUND_SECONDS),
        Meta.LANGUAGE_SOURCE: transcription.language_source,
        Meta.TASK: task,
    }
    cov = transcription.coverage
    if cov is not None:
        metadata[Meta.SPEECH_SEC] = round(cov.speech_sec, ROUND_SECONDS)
        metadata[Meta.SPEECH_COVERED_SEC] = round(cov.covered_sec, ROUND_SECONDS)
        metadata[Meta.UNCOVERED_SPEECH] = [
            {SegmentKeys.START: round(a, ROUND_SECONDS), SegmentKeys.END: round(b, ROUND_SECONDS)}
            for a, b in cov.uncovered
        ]
    metadata.update(extra or {})
    return {
        ResultKeys.TRANSCRIPT: transcription.text.strip(),
        ResultKeys.LANGUAGE: transcription.language,
        ResultKeys.SEGMENTS: [_segment(s) for s in transcription.segments],
        ResultKeys.METADATA: metadata,
    }


def _segment(segment: Segment) -> dict[str, Any]:
    out: dict[str, Any] = {
        SegmentKeys.START: round(segment.start, ROUND_SECONDS),
        SegmentKeys.END: round(segment.end, ROUND_SECONDS),
        SegmentKeys.TEXT: segment.text.strip(),
    }
    if segment.words:
        out[SegmentKeys.WORDS] = [_word(w) for w in segment.words]
    return out


def _word(word: Word) -> dict[str, Any]:
    out: dict[str, Any] = {
        WordKeys.START: round(word.start, ROUND_SECONDS),
        WordKeys.END: round(word.end, ROUND_SECONDS),
        WordKeys.WORD: word.text.strip(),
    }
    if word.probability is not None:
        out[WordKeys.PROBABILITY] = round(word.probability, 3)
    return out


def to_json(result: dict[str, Any]) -> bytes:
    """UTF-8 JSON with Twi letters (ɛ, ɔ) kept as they are."""
    return json.dumps(result, ensure_ascii=False).encode("utf-8")
