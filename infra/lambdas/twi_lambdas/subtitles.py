"""SubRip (.srt) and WebVTT (.vtt) subtitles from transcript segments. Plain functions.

A cue is what a reader takes in at once: at most ``MAX_LINES`` lines of ``MAX_LINE_CHARS``,
shown for at most ``MAX_CUE_SECONDS``, and never across a pause longer than
``MAX_PAUSE_SECONDS`` (a subtitle on screen while nobody speaks). The endpoint's segments
already stop at such pauses and last at most 10 s, so:

* a segment with word times (``words=true``) is cut at its words: a cue ends before a
  word that would overflow its lines, its 7 s, or follow a pause over 1 s, and takes the
  words' own times;
* a segment without them is wrapped and cut into cues that each get a share of its time
  proportional to their characters, cut further so none lasts over 7 s.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from twi_contract import SegmentKeys, WordKeys

MAX_LINE_CHARS = 42  # broadcast subtitle guidelines: ~42 characters per line
MAX_LINES = 2  # lines per cue
MIN_CUE_SECONDS = 0.5  # a cue with no duration (end <= start) is shown this long
MAX_CUE_SECONDS = 7.0  # subtitle guidelines: a cue longer than this is split
MAX_PAUSE_SECONDS = 1.0  # a cue never spans a pause longer than this (needs word times)


@dataclass(frozen=True)
class Cue:
    start: float  # seconds
    end: float
    lines: tuple[str, ...]


def _segment_fields(segment: Mapping[str, Any]) -> tuple[float, float, str]:
    try:
        start = float(segment[SegmentKeys.START])
        end = float(segment[SegmentKeys.END])
        text = str(segment[SegmentKeys.TEXT])
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
        start = max(start, previous_end, 0.0)
        words = _words(segment.get(SegmentKeys.WORDS), start)
        made = _cues_from_words(words) if words else _cues_from_text(text, start, end)
        if made:
            out += made
            previous_end = made[-1].end
    return out


def _words(raw: Any, not_before: float) -> list[tuple[float, float, str]]:
    """The segment's words as ``(start, end, word)``, or [] when it has none (or bad ones)."""
    if not isinstance(raw, list) or not raw:
        return []
    words = []
    try:
        for w in raw:
            start, end, word = float(w[WordKeys.START]), float(w[WordKeys.END]), str(w[WordKeys.WORD]).strip()
            if word and math.isfinite(start) and math.isfinite(end):
                words.append((max(start, not_before), max(end, start, not_before), word))
    except (KeyError, TypeError, ValueError):
        return []
    return words


def _cues_from_words(words: list[tuple[float, float, str]]) -> list[Cue]:
    groups: list[list[tuple[float, float, str]]] = [[]]
    for word in words:
        group = groups[-1]
        if group:
            lines = textwrap.wrap(" ".join(w for _, _, w in [*group, word]), MAX_LINE_CHARS)
            if (
                len(lines) > MAX_LINES
                or word[1] - group[0][0] > MAX_CUE_SECONDS
                or word[0] - group[-1][1] > MAX_PAUSE_SECONDS
            ):
                groups.append([])
        groups[-1].append(word)
    out: list[Cue] = []
    for group in groups:
        wrapped = textwrap.wrap(" ".join(w for _, _, w in group), MAX_LINE_CHARS, break_on_hyphens=False)
        start = group[0][0] if not out else max(group[0][0], out[-1].end)
        end = max(group[-1][1], start + MIN_CUE_SECONDS)
        out.append(Cue(round(start, 3), round(end, 3), tuple(wrapped)))
    return out


def _cues_from_text(text: str, start: float, end: float) -> list[Cue]:
    lines = textwrap.wrap(" ".join(text.split()), MAX_LINE_CHARS, break_on_hyphens=False)
    if not lines:
        return []
    end = max(end, start + MIN_CUE_SECONDS)
    groups = [tuple(lines[i : i + MAX_LINES]) for i in range(0, len(lines), MAX_LINES)]
    # a group that would be shown longer than MAX_CUE_SECONDS is cut into equal word runs
    total = sum(len(" ".join(g)) for g in groups)
    pieces: list[tuple[str, ...]] = []
    for group in groups:
        seconds = (end - start) * len(" ".join(group)) / total
        parts = max(1, math.ceil(seconds / MAX_CUE_SECONDS - 1e-9))
        words = " ".join(group).split()
        parts = min(parts, len(words))
        for k in range(parts):
            chunk = words[k * len(words) // parts : (k + 1) * len(words) // parts]
            pieces.append(tuple(textwrap.wrap(" ".join(chunk), MAX_LINE_CHARS, break_on_hyphens=False)))
    weights = [sum(len(x) for x in p) + len(p) - 1 for p in pieces]
    out = []
    cursor = start
    for piece, weight in zip(pieces, weights, strict=True):
        cue_end = cursor + (end - start) * weight / sum(weights)
        out.append(Cue(round(cursor, 3), round(cue_end, 3), piece))
        cursor = cue_end
    out[-1] = Cue(out[-1].start, round(end, 3), out[-1].lines)  # no rounding drift at the end
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
