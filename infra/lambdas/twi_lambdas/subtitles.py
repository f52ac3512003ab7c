"""SubRip (.srt) and WebVTT (.vtt) subtitles from transcript segments. Plain functions.

A cue is what a reader takes in at once: at most ``MAX_LINES`` lines of ``MAX_LINE_CHARS``,
shown for at most ``MAX_CUE_SECONDS``, and never across a pause longer than
``MAX_PAUSE_SECONDS`` (a subtitle on screen while nobody speaks). The endpoint's segments
already stop at such pauses and last at most 10 s; a segment too long for one cue is cut
into as few cues as fit, at the breaks a subtitler would choose (:func:`_cut`): after a
sentence or a clause rather than inside one, into cues of about equal length, so that no
word is left alone on screen for a fraction of a second. A cue takes its words' times
when the segment has them (``words=true``); without them, the segment's time is shared
among its words in proportion to their characters.
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from twi_contract import SegmentKeys, WordKeys

MAX_LINE_CHARS = 42  # broadcast subtitle guidelines: ~42 characters per line
MAX_LINES = 2  # lines per cue
MIN_CUE_SECONDS = 0.5  # a cue with no duration (end <= start) is shown this long
# subtitle guidelines: a cue is on screen long enough to be read (Netflix: 5/6 s); a shorter
# one stays up into the pause after it, up to this long and never into the next cue
MIN_READ_SECONDS = 1.0
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
    parsed = [(*_segment_fields(segment), segment.get(SegmentKeys.WORDS)) for segment in segments]
    for start, end, text, raw_words in _read_together(parsed):
        start = max(start, previous_end, 0.0)
        words = _words(raw_words, start, text) or _spread(text, start, end)
        for group in _cut([piece for word in words for piece in _pieces(word)]):
            cue_start = max(group[0][0], out[-1].end) if out else group[0][0]
            # a lone word over 7 s (a segment of one word without word times) is shown 7 s
            cue_end = min(max(group[-1][1], cue_start + MIN_CUE_SECONDS), cue_start + MAX_CUE_SECONDS)
            out.append(Cue(round(cue_start, 3), round(cue_end, 3), _lines(_phrase(group))))
        if out:
            previous_end = out[-1].end
    return _readable(out)


# a segment as cues() reads it: start, end (seconds), text, and its words as the result has them
Parsed = tuple[float, float, str, Any]


def _read_together(segments: list[Parsed]) -> list[Parsed]:
    """A segment too short to be read alone (under ``MIN_READ_SECONDS``) joined to the one
    after it when that follows within ``MAX_PAUSE_SECONDS``: two sentences said together
    are read together ("And that should be all." "Thanks.": one cue, where shown apart the
    first was gone after 0.3 s), and :func:`_cut` still breaks the joined words at a
    sentence where they need more than one cue. Only segments with text are joined, and
    only two that both have word times or both lack them."""
    out: list[Parsed] = []
    for seg in segments:
        if out and _joins(out[-1], seg):
            start, _, text, words = out[-1]
            joined = [*words, *seg[3]] if _timed(words) else None
            out[-1] = (start, seg[1], f"{text.strip()} {seg[2].strip()}", joined)
        else:
            out.append(seg)
    return out


def _joins(first: Parsed, then: Parsed) -> bool:
    start, end, text, words = first
    return (
        end - start < MIN_READ_SECONDS
        and 0.0 <= then[0] - end <= MAX_PAUSE_SECONDS
        and bool(text.strip() and then[2].strip())
        and _timed(words) == _timed(then[3])
    )


def _timed(words: Any) -> bool:
    return isinstance(words, list) and bool(words)


def _readable(out: list[Cue]) -> list[Cue]:
    """Each cue shorter than ``MIN_READ_SECONDS`` kept up into the silence after it, up to
    that long, never past the next cue's start: a "Thanks." said in 0.3 s was gone before it
    was read (a tenth of the cues of the bench's seeds 0, 12 and 13 lasted under a second).
    It never spans a pause of over a second: it ends at most a second after it starts."""
    for k, cue in enumerate(out):
        if cue.end - cue.start < MIN_READ_SECONDS:
            limit = out[k + 1].start if k + 1 < len(out) else math.inf
            end = max(cue.end, min(cue.start + MIN_READ_SECONDS, limit))
            out[k] = Cue(cue.start, round(end, 3), cue.lines)
    return out


# start, end (seconds), and the word as the segment's text writes it, with what stands
# before it there: " " or nothing ("self" then "-thy" of "self-thy"), or punctuation the
# words leave out
Word = tuple[float, float, str]


def _words(raw: Any, not_before: float, text: str) -> list[Word]:
    """The segment's words with their times, or [] when it has none (or bad ones)."""
    if not isinstance(raw, list) or not raw:
        return []
    timed = []
    try:
        for w in raw:
            start, end, word = float(w[WordKeys.START]), float(w[WordKeys.END]), str(w[WordKeys.WORD]).strip()
            if word and math.isfinite(start) and math.isfinite(end):
                timed.append((max(start, not_before), max(end, start, not_before), word))
    except (KeyError, TypeError, ValueError):
        return []
    pieces = _as_written(text, [w for _, _, w in timed])
    return [(a, b, piece) for (a, b, _), piece in zip(timed, pieces, strict=True)]


def _as_written(text: str, words: list[str]) -> list[str]:
    """Each word with what stands before it in ``text`` (whitespace as one space), the
    text after the last word added to it; the words, space-separated, where ``text`` does
    not hold them in order. The result's words are written without their spacing
    ("self", "-thy"), the segment's text with it ("self-thy")."""
    pieces: list[str] = []
    pos = 0
    for word in words:
        found = text.find(word, pos)
        if found < 0:
            return [" " + w for w in words]
        pieces.append(_SPACES.sub(" ", text[pos:found]) + word)
        pos = found + len(word)
    pieces[-1] += _SPACES.sub(" ", text[pos:]).rstrip()
    return pieces


_SPACES = re.compile(r"\s+")


def _pieces(word: Word) -> list[Word]:
    """``word`` in pieces of at most ``MAX_LINE_CHARS - 1`` characters (a share of its time
    each), joined without a space: a "word" no line holds is a text without spaces (Chinese,
    Japanese, Thai: Whisper writes them so) or a run of symbols, and a cue is still at most
    two lines and 7 s."""
    start, end, text = word
    size = MAX_LINE_CHARS - 1
    if len(text) <= MAX_LINE_CHARS:
        return [word]
    parts = [text[i : i + size] for i in range(0, len(text), size)]
    step = (end - start) / len(parts)
    return [(start + k * step, start + (k + 1) * step, part) for k, part in enumerate(parts)]


def _phrase(group: list[Word]) -> str:
    return "".join(piece for _, _, piece in group).strip()


def _spread(text: str, start: float, end: float) -> list[Word]:
    """The words of a segment without word times, its time shared among them in proportion
    to their characters (a space each included), one after the other without a gap."""
    words = text.split()
    total = sum(len(w) + 1 for w in words)
    out: list[Word] = []
    cursor = 0
    for w in words:
        a = start + (end - start) * cursor / total
        cursor += len(w) + 1
        out.append((a, start + (end - start) * cursor / total, " " + w))
    return out


def _lines(phrase: str) -> tuple[str, ...]:
    """``phrase`` on one line, or on two of about equal length (a break after a sentence
    or a clause preferred) where it fits in two; else wrapped at ``MAX_LINE_CHARS``."""
    if len(phrase) <= MAX_LINE_CHARS:
        return (phrase,)
    spaces = [i for i, c in enumerate(phrase) if c == " "]
    two = [i for i in spaces if i <= MAX_LINE_CHARS and len(phrase) - i - 1 <= MAX_LINE_CHARS]
    if MAX_LINES < 2 or not two:
        return tuple(textwrap.wrap(phrase, MAX_LINE_CHARS, break_on_hyphens=False))

    def cost(i: int) -> float:
        before = phrase[:i].rstrip("\"')»”’")
        punctuation = 0 if before.endswith(SENTENCE_END) else 4 if before.endswith(CLAUSE_END) else 8
        return abs(i - (len(phrase) - i - 1)) + punctuation

    i = min(two, key=cost)
    return (phrase[:i], phrase[i + 1 :])


# What a break between two words of one cue-to-be costs (:func:`_cut`): a cue is best
# ended after a sentence, then after a clause; a cue of the segment's cues costs CUE_COST,
# so that the fewest that fit are always taken, and the squares of their lengths are added,
# so that cues of about equal length win over a full one and a word left alone.
CUE_COST = 100.0
BREAK_COST = {"sentence": 0.0, "clause": 0.4, "word": 1.0}
SENTENCE_END = (".", "?", "!", "…")
CLAUSE_END = (",", ";", ":", "—", "–")


def _cut(words: list[Word]) -> list[list[Word]]:
    """``words`` in cues: each fits (:func:`_fits`), none spans a pause over
    ``MAX_PAUSE_SECONDS``, as few as fit, broken where a subtitler would break them.

    The cheapest cut by dynamic programming over the break points: each cue costs
    ``CUE_COST`` plus the square of its share of a full cue's characters plus what its
    break costs (``BREAK_COST``: after a sentence, a clause, or a word). Greedy filling
    left the last word of a sentence alone on screen ("die," for 0.3 s after two full lines
    of a sonnet); cut here, the two cues hold "From fairest creatures we desire increase,"
    and the rest of the line. A word that fits no cue alone (said over 7 s) still gets a
    cue of its own.
    """
    n = len(words)
    capacity = MAX_LINES * MAX_LINE_CHARS
    best: list[float] = [0.0] + [math.inf] * n  # best[j]: the cheapest cut of words[:j]
    previous: list[int] = [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(j - 1, -1, -1):  # the cue words[i:j], growing to the left
            phrase = _phrase(words[i:j])
            if i < j - 1 and (
                words[i + 1][0] - words[i][1] > MAX_PAUSE_SECONDS or not _fits(words[i:j], phrase)
            ):
                break  # a longer cue only adds a pause, lines or seconds
            cost = best[i] + CUE_COST + (len(phrase) / capacity) ** 2 + _break_cost(words, j)
            if cost < best[j]:
                best[j], previous[j] = cost, i
    groups: list[list[Word]] = []
    j = n
    while j > 0:
        groups.append(words[previous[j] : j])
        j = previous[j]
    return groups[::-1]


def _fits(group: list[Word], phrase: str) -> bool:
    """Whether ``group`` (written ``phrase``) makes one cue: two lines, seven seconds."""
    if len(phrase) > MAX_LINES * MAX_LINE_CHARS or group[-1][1] - group[0][0] > MAX_CUE_SECONDS:
        return False
    return len(_lines(phrase)) <= MAX_LINES


def _break_cost(words: list[Word], j: int) -> float:
    """What ending a cue before ``words[j]`` costs (nothing at the segment's end)."""
    if j >= len(words):
        return 0.0
    last = words[j - 1][2].rstrip("\"')»”’")
    if last.endswith(SENTENCE_END):
        return BREAK_COST["sentence"]
    return BREAK_COST["clause" if last.endswith(CLAUSE_END) else "word"]


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
