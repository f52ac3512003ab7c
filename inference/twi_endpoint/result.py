"""The endpoint's JSON result: the contract the complete Lambda and users read."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

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
        "audio_duration_sec": duration,
        "processing_time_sec": processing,
        "rtf": processing / duration if duration > 0 else 0.0,
        "device": device,
        "dtype": dtype,
        "engine": engine,
        "model": model,
        "batch_size": batch_size,
        "chunks": transcription.chunks,
        "decode_time_sec": round(timings.decode_time_sec, ROUND_SECONDS),
        "inference_time_sec": round(timings.inference_time_sec, ROUND_SECONDS),
        "language_source": transcription.language_source,
        "task": task,
    }
    cov = transcription.coverage
    if cov is not None:
        metadata["speech_sec"] = round(cov.speech_sec, ROUND_SECONDS)
        metadata["speech_covered_sec"] = round(cov.covered_sec, ROUND_SECONDS)
        metadata["uncovered_speech"] = [
            {"start": round(a, ROUND_SECONDS), "end": round(b, ROUND_SECONDS)} for a, b in cov.uncovered
        ]
    metadata.update(extra or {})
    return {
        "transcript": transcription.text.strip(),
        "language": transcription.language,
        "segments": [_segment(s) for s in transcription.segments],
        "metadata": metadata,
    }


def _segment(segment: Segment) -> dict[str, Any]:
    out: dict[str, Any] = {
        "start": round(segment.start, ROUND_SECONDS),
        "end": round(segment.end, ROUND_SECONDS),
        "text": segment.text.strip(),
    }
    if segment.words:
        out["words"] = [_word(w) for w in segment.words]
    return out


def _word(word: Word) -> dict[str, Any]:
    out: dict[str, Any] = {
        "start": round(word.start, ROUND_SECONDS),
        "end": round(word.end, ROUND_SECONDS),
        "word": word.text.strip(),
    }
    if word.probability is not None:
        out["probability"] = round(word.probability, 3)
    return out


def to_json(result: dict[str, Any]) -> bytes:
    """UTF-8 JSON with Twi letters (ɛ, ɔ) kept as they are."""
    return json.dumps(result, ensure_ascii=False).encode("utf-8")
