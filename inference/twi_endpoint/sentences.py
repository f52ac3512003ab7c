"""Cut a recording's decoded text into the result's segments: at pauses, to a readable
length, at sentence ends; in order and never overlapping.

Each segment is cut by its words' times: at every pause longer than :data:`MAX_PAUSE_S`
(:func:`split_segment`), into parts of at most :data:`MAX_SEGMENT_S` (:func:`cut_long`), and
last, after the coverage check, into its sentences (:func:`at_sentence_ends`). Subtitles
follow the speech because their cues are cut from these segments.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import replace

from twi_endpoint.types import Segment, Word

MAX_SEGMENT_S = 10.0  # a longer segment is cut at its widest word gap
MAX_PAUSE_S = 1.0  # a segment never spans a pause longer than this
SENTENCE_ENDS = (".", "?", "!", "…", "。")
# Titles written with a full stop before a name ("Mr. John Dashwood"): no sentence ends there
TITLES = frozenset(
    {"mr", "mrs", "ms", "dr", "prof", "st", "mt", "jr", "sr", "rev", "gen", "col", "lt", "capt", "sgt"}
)
CLOSING_MARKS = "\"')]»”’"  # a quote or bracket closed after a sentence's full stop


def split_segment(segment: Segment) -> list[Segment]:
    """Cut a segment with word times at every gap longer than ``MAX_PAUSE_S``, then cut any
    part longer than ``MAX_SEGMENT_S`` at its best break: the widest gap, preferring one
    after a sentence end."""
    if not segment.words:
        return [segment]
    out: list[Segment] = []
    for words in _cut_between(segment.words, opens_segment):
        out.extend(cut_long(words))
    return out


def opens_segment(prev: Word, word: Word) -> bool:
    """Whether ``word`` opens a segment of its own: a pause of over ``MAX_PAUSE_S`` after
    ``prev`` (:func:`split_segment` cuts there, and :func:`timeline.trim_words_to_speech` gives it a
    first word's rules)."""
    return word.start - prev.end > MAX_PAUSE_S


def _cut_between(words: Sequence[Word], cut: Callable[[Word, Word], bool]) -> list[list[Word]]:
    """``words`` (at least one) in runs, a new one wherever ``cut(word, next_word)``."""
    parts: list[list[Word]] = [[words[0]]]
    for prev, word in itertools.pairwise(words):
        if cut(prev, word):
            parts.append([])
        parts[-1].append(word)
    return parts


def cut_long(words: list[Word]) -> list[Segment]:
    """``words`` as one segment, or cut in two again and again while a part is longer than
    :data:`MAX_SEGMENT_S`: before the word with the best break (the widest gap, +1 s after
    a sentence's end, +0.3 s after a comma). A part without text is no segment."""
    if len(words) < 2 or words[-1].end - words[0].start <= MAX_SEGMENT_S:
        text = join_words(words).strip()
        return (
            [Segment(round(words[0].start, 3), round(words[-1].end, 3), text, tuple(words))] if text else []
        )

    def score(i: int) -> float:  # break before words[i]
        gap = words[i].start - words[i - 1].end
        sentence = words[i - 1].text.strip().endswith(SENTENCE_ENDS)
        return gap + (1.0 if sentence else 0.0) + (0.3 if words[i - 1].text.strip().endswith(",") else 0.0)

    # only breaks that leave both sides shorter than the whole: progress guaranteed
    best = max(range(1, len(words)), key=score)
    return cut_long(words[:best]) + cut_long(words[best:])


def at_sentence_ends(segments: Sequence[Segment]) -> list[Segment]:
    """Each segment with word times cut into its sentences (:func:`ends_sentence`), each
    part timed by its words.

    Whisper's timestamp tokens mostly close a segment at a sentence's end, but not where the
    next sentence follows within a second: speakers taking turns 0.05-0.3 s apart came back
    as "He could wait no longer. He hoped there would be stew ..." (bench
    ``build_back_to_back``), the second speaker's start then inside a segment. Sentence-level
    segments are what peers give (whisperX cuts its aligned segments with a sentence
    tokenizer). Run last, after the coverage check: what counts as decoded twice there
    (:mod:`twi_endpoint.coverage`) is judged on the segments as the decoder wrote them. A
    segment whose words do not spell its text is kept whole: they cannot place the cut.

    A sentence ends where the next one starts, its last word with it: on the VAD's 32 ms
    frames a word's end is rounded up and the next word's start down
    (:func:`timeline.trim_words_to_speech`), so cut there the two segments overlapped by a frame
    (the transformers engine's segments on bench seeds 0-2: 245 times in 146 runs, two cues
    on the screen at once). A sentence whose first word starts no later than the last word
    of the sentence before it is not cut from it: its times cannot place the cut (the
    alignment moved "Two." off a pause onto the next onset, where "When forty winters"
    starts too)."""
    out: list[Segment] = []
    for seg in segments:
        words = seg.words
        if len(words) < 2 or join_words(words).strip() != seg.text:
            out.append(seg)
            continue
        kept: list[list[Word]] = []
        for part in _cut_between(words, ends_sentence):
            if kept and part[0].start <= kept[-1][-1].start:
                kept[-1] += part
            else:
                kept.append(part)
        if len(kept) == 1:
            out.append(seg)
            continue
        for k, part in enumerate(kept):
            start = seg.start if k == 0 else part[0].start
            if k + 1 < len(kept):  # the next sentence starts after this one's last word does
                part = list(words_until(part, kept[k + 1][0].start))
                end = max(start, part[-1].end)
            else:
                end = max(start, seg.end)
            out.append(
                replace(
                    seg,
                    start=round(start, 3),
                    end=round(end, 3),
                    text=join_words(part).strip(),
                    words=tuple(part),
                )
            )
    return out


def ends_sentence(word: Word, then: Word) -> bool:
    """Whether a sentence ends after ``word``, ``then`` opening the next: ``word`` ends in a
    sentence mark (a closing quote or bracket after it allowed) and ``then`` does not start
    in lower case. A full stop after an abbreviation ends nothing: an initial ("J."), an
    initialism ("U.S."), a title before a name (``TITLES``)."""
    text = word.text.strip().rstrip(CLOSING_MARKS)
    if not text.endswith(SENTENCE_ENDS):
        return False
    if text.endswith(".") and not text.endswith(".."):
        stem = text[:-1]
        if "." in stem or (len(stem) == 1 and stem.isalpha()) or stem.lower() in TITLES:
            return False
    first = next((c for c in then.text if c.isalpha()), "")
    return not first.islower()


def in_order(segments: Sequence[Segment]) -> list[Segment]:
    """Segments sorted by start and made not to overlap: where one ends after the next
    starts (word times of neighbouring sentences disagree by a frame or two), it ends
    where the next begins, its words with it (:func:`words_until`). Of two with the same start,
    the second begins where the first ends, and so do its words that started earlier (a
    word standing before its segment's start would be read as said there: held-out
    ``short_pauses`` seed 31, "Firefox." found again at a segment's start, its word 0.19 s
    before the segment; :func:`words_from`)."""
    out: list[Segment] = []
    for seg in sorted(segments, key=lambda x: x.start):
        if out and out[-1].end > seg.start:
            prev = out[-1]
            if seg.start > prev.start:
                out[-1] = replace(prev, end=seg.start, words=words_until(prev.words, seg.start))
            else:  # same start: this one begins where the previous ends
                start = prev.end
                seg = replace(seg, start=start, end=max(seg.end, start), words=words_from(seg.words, start))
        out.append(seg)
    return out


def words_until(words: Sequence[Word], end: float) -> tuple[Word, ...]:
    """``words`` ending no later than ``end``; those that start at or after it share the
    time of the last word that keeps some (:func:`shared`; none does: ``words`` as they
    are). Left out, the segment's text still held them and its words did not: "Stuff it
    into you, with Belly counseled him." without "him." in its words (bench ``babble`` seed
    18, the next segment timed from the talkers at "him."'s start), "words, words, words."
    without its last (seed 23)."""
    kept = [replace(w, end=min(w.end, end)) for w in words if w.start < end]
    if not kept:
        return tuple(words)
    last = kept.pop()
    return (*kept, *shared([last, *(w for w in words if w.start >= end)], last.start, last.end))


def words_from(words: Sequence[Word], start: float) -> tuple[Word, ...]:
    """``words`` starting no earlier than ``start``; those that ended by then share the time
    of the first word that keeps some (:func:`shared`). Moved whole onto ``start`` they
    lasted 0 s: a window's last word aligned onto the next sentence's first speech
    ("forever." on "He" of "He hoped there would be stew", bench ``speech`` seed 0) put
    both segments at one start, and "He" was left from 526.752 to 526.752 s."""
    out: list[Word] = []
    left: list[Word] = []  # words with no time left after ``start``
    for w in words:
        if w.end <= start:
            left.append(w)
            continue
        out += shared([*left, w], max(w.start, start), w.end)
        left = []
    return (*out, *shared(left, start, start))  # nothing after them to share


def shared(words: Sequence[Word], start: float, end: float) -> list[Word]:
    """``words`` one after another from ``start`` to ``end``, in equal parts, in their
    order: where the times cannot tell them apart, each is still given some."""
    step = (end - start) / max(1, len(words))
    return [
        replace(
            w,
            start=round(start + i * step, 3),
            end=round(end if i == len(words) - 1 else start + (i + 1) * step, 3),
        )
        for i, w in enumerate(words)
    ]


def join_words(words: Sequence[Word]) -> str:
    """Words back to text, spelt as the tokenizer spells them (each with its leading space)."""
    return "".join(w.text for w in words)


def has_words(text: str) -> bool:
    """Whether ``text`` holds a word: a lone "." or "..." (punctuation Whisper writes for a
    pause) holds no speech."""
    return any(c.isalnum() for c in text)


def plain_text(text: str) -> str:
    return " ".join("".join(c.lower() if c.isalnum() else " " for c in text).split())
