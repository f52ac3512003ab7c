"""SubRip (.srt) and WebVTT (.vtt) subtitles from transcript segments. Plain functions.

Whisper segments can run to 30 s of speech, far more than a reader takes in at once, so a
segment is wrapped at ``MAX_LINE_CHARS`` and cut into cues of at most ``MAX_LINES`` lines;
each cue gets a share of the segment's time proportional to its characters (the best
estimate without word timestamps).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_LINE_CHARS = 42  # broadcast subtitle guidelines: ~42 characters per line
MAX_LINES = 2  # lines per cue
MIN_CUE_SECONDS = 0.5  # a cue with no duration (end <= start) is shown this long


@dataclass(frozen=True)
class Cue:
    start: float  # seconds
    end: float
    lines: tuple[str, ...]


def _segment_fields(segment: Mapping[str, Any]) -> tuple[float, float, str]:
    try:
        start = float(segment["start"])
        end = float(segment["end"])
        text = str(segment["text"])
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"a segment needs numeric 'start', 'end' and a 'text': {segment!r}") from None
    if not (math.isfinite(start) and math.isfinite(end)):
        raise ValueError(f"segment times must be finite: {segment!r}")
    return start, end, text


def cues(segments: Iterable[Mapping[str, Any]]) -> list[Cue]:
    """Cues in time order, never overlapping, wrapped and split as described above."""
    out: list[Cue] = []
    previous_end = 0.0
    for segment in segments:
        start, end, text = _segment_fields(segment)
        lines = textwrap.wrap(" ".join(text.split()), MAX_LINE_CHARS, break_on_hyphens=False)
        if not lines:
            continue
        start = max(start, previous_end, 0.0)
        end = max(end, start + MIN_CUE_SECONDS)
        groups = [tuple(lines[i : i + MAX_LINES]) for i in range(0, len(lines), MAX_LINES)]
        weights = [sum(len(line) for line in group) for group in groups]
        total = sum(weights)
        cursor = start
        for group, weight in zip(groups, weights, strict=True):
            cue_end = cursor + (end - start) * weight / total
            out.append(Cue(round(cursor, 3), round(cue_end, 3), group))
            cursor = cue_end
        out[-1] = Cue(out[-1].start, round(end, 3), out[-1].lines)  # no rounding drift at the end
        previous_end = end
    return out


def _timestamp(seconds: float, separator: str) -> str:
    total_ms = max(0, round(seconds * 1000))
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{ms:03d}"


def srt_timestamp(seconds: float) -> str:
    """``00:00:01,000``: SubRip uses a comma before the milliseconds."""
    return _timestamp(seconds, ",")


def vtt_timestamp(seconds: float) -> str:
    """``00:00:01.000``: WebVTT uses a full stop."""
    return _timestamp(seconds, ".")


def to_srt(segments: Iterable[Mapping[str, Any]]) -> str:
    blocks = [
        f"{i}\n{srt_timestamp(c.start)} --> {srt_timestamp(c.end)}\n" + "\n".join(c.lines)
        for i, c in enumerate(cues(segments), start=1)
    ]
    return "".join(f"{block}\n\n" for block in blocks)  # every cue ends with a blank line


def _vtt_text(line: str) -> str:
    # WebVTT cue text is markup: escape what would start a tag or an entity, and '-->'.
    return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(segments: Iterable[Mapping[str, Any]]) -> str:
    blocks = [
        f"{vtt_timestamp(c.start)} --> {vtt_timestamp(c.end)}\n" + "\n".join(_vtt_text(x) for x in c.lines)
        for c in cues(segments)
    ]
    return "WEBVTT\n\n" + "\n\n".join(blocks) + ("\n" if blocks else "")
