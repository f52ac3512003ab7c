"""The endpoint's JSON result, what the complete Lambda and users read; field names from ``twi_contract``.

A coalesced request (several files, ``twi_contract.BATCH_CONTENT_TYPE``) is answered with
one such result (or error) per file, and metadata about the whole request
(:func:`build_batch_result`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from twi_contract import BatchKeys, ResultKeys, SegmentKeys, WordKeys
from twi_contract import MetadataKeys as Meta

from twi_endpoint.sentences import shared
from twi_endpoint.types import Segment, Transcription, Word

ROUND_SECONDS = 3  # millisecond precision for every time in the result
# How a coalesced request's engine time is told apart per file, in its metadata for readers.
INFERENCE_TIME_SPLIT = (
    "each file's inference_time_sec is its own silence gate plus the engine time of the whole "
    "batch shared in proportion to the files' audio durations; its processing_time_sec is its "
    "decode_time_sec plus that"
)


class BatchMetadataKeys:
    """Metadata of a coalesced request as a whole, beside the ``MetadataKeys`` it shares:
    audio_duration_sec of the files answered with a result, processing_time_sec of the whole
    request (what its caller waited for), decode_time_sec of every file decoded."""

    FILES = "files"  # files in the request
    FAILED = "failed"  # of which answered with an error
    INFERENCE_TIME_SPLIT = "inference_time_split"  # INFERENCE_TIME_SPLIT, for a reader of the result


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
    """Assemble the result; ``rtf`` comes from the rounded times beside it (:func:`_times`)."""
    metadata: dict[str, Any] = {
        **_times(timings),
        Meta.DEVICE: device,
        Meta.DTYPE: dtype,
        Meta.ENGINE: engine,
        Meta.MODEL: model,
        Meta.BATCH_SIZE: batch_size,
        Meta.CHUNKS: transcription.chunks,
        **_stage_times(timings),
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


def build_batch_result(
    entries: list[dict[str, Any]], timings: Timings, *, failed: int, chunks: int, extra: dict[str, Any]
) -> dict[str, Any]:
    """A coalesced request's answer: ``entries`` (one ``{id, result}`` or ``{id, error}`` per
    file, in the request's order) and the metadata of the whole request."""
    metadata = {
        BatchMetadataKeys.FILES: len(entries),
        BatchMetadataKeys.FAILED: failed,
        **_times(timings),
        Meta.CHUNKS: chunks,
        **_stage_times(timings),
        BatchMetadataKeys.INFERENCE_TIME_SPLIT: INFERENCE_TIME_SPLIT,
        **extra,
    }
    return {BatchKeys.ITEMS: entries, BatchKeys.METADATA: metadata}


def share_by_duration(seconds: float, durations: list[float]) -> list[float]:
    """``seconds`` of one batched engine call told apart per file, in proportion to each
    file's audio duration (:data:`INFERENCE_TIME_SPLIT`): a batch cannot time its files
    apart, and the work grows with the audio each file brings."""
    total = sum(durations)
    if total <= 0:
        return [seconds / len(durations) for _ in durations] if durations else []
    return [seconds * d / total for d in durations]


def _times(timings: Timings) -> dict[str, Any]:
    """Duration, processing time and ``rtf``, rounded. ``rtf`` is computed from the
    *rounded* values written beside it, so ``rtf == processing_time_sec /
    audio_duration_sec`` holds exactly for any reader."""
    duration = round(timings.audio_duration_sec, ROUND_SECONDS)
    processing = round(timings.processing_time_sec, ROUND_SECONDS)
    return {
        Meta.AUDIO_DURATION_SEC: duration,
        Meta.PROCESSING_TIME_SEC: processing,
        Meta.RTF: processing / duration if duration > 0 else 0.0,
    }


def _stage_times(timings: Timings) -> dict[str, Any]:
    return {
        Meta.DECODE_TIME_SEC: round(timings.decode_time_sec, ROUND_SECONDS),
        Meta.INFERENCE_TIME_SEC: round(timings.inference_time_sec, ROUND_SECONDS),
    }


def _segment(segment: Segment) -> dict[str, Any]:
    out: dict[str, Any] = {
        SegmentKeys.START: round(segment.start, ROUND_SECONDS),
        SegmentKeys.END: round(segment.end, ROUND_SECONDS),
        SegmentKeys.TEXT: segment.text.strip(),
    }
    if segment.words:
        out[SegmentKeys.WORDS] = [
            _word(w, span) for w, span in zip(segment.words, one_at_a_time(segment.words), strict=True)
        ]
    return out


def one_at_a_time(words: tuple[Word, ...]) -> list[tuple[float, float]]:
    """Each word's ``(start, end)`` as the result gives it: ending no later than the next
    word starts, and words that start together sharing the time up to the next word's start
    (or their end), in equal parts, in their order.

    A reader highlighting words as they are said expects one at a time. Word times are
    moved onto the VAD's 32 ms frames (:func:`timeline.trim_words_to_speech`): a start
    rounded down and the word before it rounded up overlapped by a frame, 32 ms, on most
    words of a sentence; and a word the alignment put in a pause moves to the next speech
    onset, where the word after it may start too: cut at that start it lasted 0 s ("For"
    of "For a full hour" at 188.16-188.16 s, the long recording of the tests)."""
    out: list[tuple[float, float]] = []
    k = 0
    while k < len(words):
        n = 1
        while k + n < len(words) and words[k + n].start <= words[k].start:
            n += 1
        end = max(w.end for w in words[k : k + n])
        if k + n < len(words):
            end = min(end, words[k + n].start)
        together = shared(words[k : k + n], words[k].start, max(words[k].start, end))
        out += [(w.start, w.end) for w in together]
        k += n
    return out


def _word(word: Word, span: tuple[float, float]) -> dict[str, Any]:
    """A word as the result gives it, at ``span`` (:func:`one_at_a_time`)."""
    out: dict[str, Any] = {
        WordKeys.START: round(span[0], ROUND_SECONDS),
        WordKeys.END: round(span[1], ROUND_SECONDS),
        WordKeys.WORD: word.text.strip(),
    }
    if word.probability is not None:
        out[WordKeys.PROBABILITY] = round(word.probability, 3)
    return out


def to_json(result: dict[str, Any]) -> bytes:
    """UTF-8 JSON with Twi letters (ɛ, ɔ) kept as they are."""
    return json.dumps(result, ensure_ascii=False).encode("utf-8")
