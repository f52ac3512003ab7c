"""The documents the functions write: ``transcripts/<path>.json`` and ``failed/<path>.json``.

Plain functions over plain data, so the exact shape users read is tested without AWS.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from twi_contract import MetadataKeys, ResultKeys, SegmentKeys

from twi_lambdas.events import format_time

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
SRT_CONTENT_TYPE = "application/x-subrip; charset=utf-8"
VTT_CONTENT_TYPE = "text/vtt; charset=utf-8"


@dataclass(frozen=True)
class Source:
    """The uploaded object a result belongs to."""

    bucket: str
    key: str
    size: int | None = None
    etag: str | None = None
    version_id: str | None = None
    uploaded_at: datetime | None = None
    replaced: bool = False  # the key now holds a different object than the one transcribed

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "bucket": self.bucket,
            "key": self.key,
            "size": self.size,
            "etag": self.etag,
            "version_id": self.version_id,
            "uploaded_at": format_time(self.uploaded_at) if self.uploaded_at else None,
        }
        if self.replaced:
            out["note"] = "the object under this key was replaced after this result was requested"
        return out


def to_json_bytes(document: dict[str, Any]) -> bytes:
    """UTF-8 JSON that keeps ɛ and ɔ readable (``ensure_ascii=False``)."""
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def parse_endpoint_output(data: bytes) -> Any:
    """The endpoint's ``.out`` as JSON; ValueError says why it is not."""
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"the endpoint output is not UTF-8 JSON ({exc}): {data[:200]!r}") from None


def validate_endpoint_result(data: bytes) -> dict[str, Any]:
    """The endpoint's JSON, checked for what the results and subtitles rely on.

    Raises ValueError with the reason: an unreadable ``.out`` is a permanent failure.
    """
    return check_result(parse_endpoint_output(data))


def check_result(result: Any) -> dict[str, Any]:
    """One file's result (a whole ``.out``, or an item of a coalesced request's), checked the
    same way; ValueError says what is wrong with it."""
    if not isinstance(result, dict):
        raise ValueError("the endpoint output is not a JSON object")
    if not isinstance(result.get(ResultKeys.TRANSCRIPT), str):
        raise ValueError(f"the endpoint output has no '{ResultKeys.TRANSCRIPT}' string")
    segments = result.get(ResultKeys.SEGMENTS, [])
    if not isinstance(segments, list):
        raise ValueError(f"the endpoint output's '{ResultKeys.SEGMENTS}' is not a list")
    for i, segment in enumerate(segments):
        if not (
            isinstance(segment, dict)
            and _number(segment.get(SegmentKeys.START))
            and _number(segment.get(SegmentKeys.END))
            and isinstance(segment.get(SegmentKeys.TEXT), str)
        ):
            raise ValueError(
                f"segment {i} of the endpoint output lacks numeric start/end or text: {segment!r}"
            )
    metadata = result.get(ResultKeys.METADATA, {})
    if not isinstance(metadata, dict):
        raise ValueError(f"the endpoint output's '{ResultKeys.METADATA}' is not an object")
    return result


def uncovered_speech(result: Any) -> list[tuple[float, float]] | None:
    """The stretches of speech (start, end seconds) a result lists as left without text
    (``metadata.uncovered_speech``), unreadable entries skipped; None where it does not say
    (no VAD ran, a failure document)."""
    metadata = result.get(ResultKeys.METADATA) if isinstance(result, Mapping) else None
    if not isinstance(metadata, Mapping) or MetadataKeys.SPEECH_SEC not in metadata:
        return None
    regions = metadata.get(MetadataKeys.UNCOVERED_SPEECH)
    out: list[tuple[float, float]] = []
    for region in regions if isinstance(regions, list) else []:
        try:
            out.append((float(region[SegmentKeys.START]), float(region[SegmentKeys.END])))
        except (KeyError, TypeError, ValueError):
            continue
    return out


def _seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


@dataclass(frozen=True)
class Job:
    """How the result came to be: what complete knows from the notification."""

    inference_id: str | None
    endpoint: str | None
    submitted_at: datetime | None  # SageMaker receivedTime
    completed_at: datetime | None  # SageMaker eventTime
    output_location: str | None = None
    batch_id: str | None = None  # the coalesced request it was sent in (its inference id)

    def as_dict(self, uploaded_at: datetime | None) -> dict[str, Any]:
        started = uploaded_at
        if started is None or (self.completed_at is not None and started > self.completed_at):
            # unknown, or the same bytes were uploaded again after this result: the
            # request time is the best start we know
            started = self.submitted_at
        return {
            "inference_id": self.inference_id,
            "endpoint": self.endpoint,
            "submitted_at": format_time(self.submitted_at) if self.submitted_at else None,
            "completed_at": format_time(self.completed_at) if self.completed_at else None,
            "queue_sec": _seconds_between(self.submitted_at, self.completed_at),
            # upload -> transcript ready at the endpoint: what the user waits for
            "end_to_end_sec": _seconds_between(started, self.completed_at),
            "output_location": self.output_location,
            # a coalesced request's .out answers several files: this one is its item inference_id
            **({"batch_id": self.batch_id} if self.batch_id else {}),
        }


def transcript_document(result: dict[str, Any], source: Source, job: Job) -> dict[str, Any]:
    """The endpoint's result plus ``source`` and ``job``; the endpoint's fields come first
    and are never renamed, so a reader of the endpoint contract can read this too."""
    document = dict(result)
    document["source"] = source.as_dict()
    document["job"] = job.as_dict(source.uploaded_at)
    return document


def failed_document(
    reason: str,
    stage: str,
    source: Source,
    failed_at: datetime,
    inference_id: str | None = None,
    job: Job | None = None,
    detail: str | None = None,
) -> dict[str, Any]:
    """A readable failure: ``reason`` is written for the person who uploaded the file."""
    document: dict[str, Any] = {
        "status": "failed",
        "stage": stage,
        "reason": reason,
        "inference_id": inference_id,
        "failed_at": format_time(failed_at),
        "source": source.as_dict(),
    }
    if detail:
        document["detail"] = detail
    if job is not None:
        document["job"] = job.as_dict(source.uploaded_at)
    return document
