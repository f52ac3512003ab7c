"""How each reference clip fared: how far the segment holding its first words starts from where
its speech starts, and whether its words came back at all (a clip lost is a sentence dropped)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from twi_asr.scoring import english_normalizer, unelide

MAX_GAP_S = 3600.0  # a pair's time gap counts up to this (an hour): it only breaks ties
LOST_SHARE = 0.5  # a clip with at least this share of its words deleted counts as lost


@dataclass(frozen=True)
class TimingResult:
    """How well segment starts match where each reference clip's speech really starts."""

    clips: int
    found: int  # clips whose first words were found in some segment
    median_s: float | None  # |true start - start of the segment holding the clip's first words|
    p95_s: float | None
    within_half_s: float  # share of clips (missing ones count as misses) within 0.5 s
    max_segment_s: float  # the longest segment
    # clips at least LOST_SHARE of whose words the alignment deleted: a sentence dropped (one
    # misread is written, not lost); where they start, to listen to
    lost: int = 0
    lost_at_s: tuple[float, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def start_timing(
    spans: Sequence[tuple[float, str]],
    segments: Sequence[tuple[float, float, str]],
    model_dir: str | None = None,
) -> TimingResult:
    """For each reference clip (``(true_start_s, reference)``), the distance between its true
    start and the start of the segment that holds its first recognised words, and the clips
    lost (at least ``LOST_SHARE`` of their words deleted).

    Words are matched by a minimum-edit alignment, as the WER counts them, so a clip's first
    words are looked for where they belong, not wherever the same words occur: a long input
    repeats clips, and difflib's greedy longest blocks then matched whole clips to the wrong
    repetition (on one 10-minute mix 14 of 36 clips went unfound). Of the alignments with
    the fewest edits, the one whose matched words lie closest in time to their clips
    (:func:`aligned`): the text alone cannot tell repeated short answers apart.
    """
    norm = english_normalizer(model_dir)
    ref_words: list[str] = []
    ref_clip: list[int] = []
    for k, (_, reference) in enumerate(spans):
        words = norm(unelide(reference)).split()
        ref_words += words
        ref_clip += [k] * len(words)
    hyp_words: list[str] = []
    hyp_segment: list[int] = []
    for k, (_, _, text) in enumerate(segments):
        words = norm(unelide(text)).split()
        hyp_words += words
        hyp_segment += [k] * len(words)
    # where each clip's words may be heard: from its start to the next clip's
    clip_at = np.asarray([start for start, _ in spans], dtype=np.float64)
    clip_until = np.append(clip_at[1:], np.inf)
    seg_at = np.asarray([segments[k][0] for k in hyp_segment], dtype=np.float64)
    seg_until = np.asarray([segments[k][1] for k in hyp_segment], dtype=np.float64)

    def time_gap(i: int) -> np.ndarray:
        """Seconds between word i's clip and each hypothesis word's segment, and a
        thousandth of the distance of their starts (of two segments in the clip's time, the
        one nearer its start)."""
        clip = ref_clip[i]
        apart = np.maximum(0.0, np.maximum(seg_at - clip_until[clip], clip_at[clip] - seg_until))
        return apart + 1e-3 * np.abs(seg_at - clip_at[clip])

    pairs, deleted = aligned(ref_words, hyp_words, time_gap)
    first_match: dict[int, int] = {}  # clip -> hypothesis word matched to its earliest word
    for i, j in pairs:
        first_match.setdefault(ref_clip[i], j)
    clip_of = np.asarray(ref_clip, dtype=np.int64)  # each reference word's clip
    words_in = np.bincount(clip_of, minlength=len(spans))
    words_deleted = np.bincount(clip_of[deleted], minlength=len(spans))
    lost = [k for k in range(len(spans)) if words_in[k] and words_deleted[k] >= LOST_SHARE * words_in[k]]
    errors = []
    for clip, word in first_match.items():
        errors.append(abs(segments[hyp_segment[word]][0] - spans[clip][0]))
    within = sum(e <= 0.5 for e in errors) / len(spans) if spans else 0.0
    arr = np.asarray(errors, dtype=np.float64)
    return TimingResult(
        clips=len(spans),
        found=len(errors),
        median_s=round(float(np.median(arr)), 3) if errors else None,
        p95_s=round(float(np.percentile(arr, 95)), 3) if errors else None,
        within_half_s=round(within, 4),
        max_segment_s=round(max((e - s for s, e, _ in segments), default=0.0), 3),
        lost=len(lost),
        lost_at_s=tuple(round(spans[k][0], 2) for k in lost),
    )


def aligned(
    ref: Sequence[str], hyp: Sequence[str], time_gap: Callable[[int], np.ndarray]
) -> tuple[list[tuple[int, int]], list[int]]:
    """``(i, j)`` for each reference word ``ref[i]`` a minimum-edit alignment pairs with an
    equal ``hyp[j]``, in order, and the ``i`` of each reference word it deletes. Of the
    alignments with the fewest substitutions, deletions and insertions, the one with the
    most equal pairs (a substitution counts as the largest gap, so two of them never stand
    in for a pair), then the least ``time_gap(i)[j]`` over its pairs (seconds between the
    clip of ``ref[i]`` and the segment of ``hyp[j]``): where the text leaves a choice (the
    same short answer said again and a word of it missing or added), the words are paired
    where they were said. Held-out ``short_pauses`` seed 31 ("no" and
    "Fire fox" said by turns, a "No. Firefox." written too many): the text alone paired
    the "no"s with answers up to 50 s away, and 0 of 17 clip starts were within 0.5 s
    while a segment started within 0.05 s of every clip.

    A dynamic programme over rows of the reference, vectorised along the hypothesis; each
    cost is ``edits * EDIT + milliseconds``, ``EDIT`` larger than any sum of them.
    """
    n, m = len(ref), len(hyp)
    if not n or not m:
        return [], list(range(n))
    vocabulary = {w: k for k, w in enumerate(dict.fromkeys([*ref, *hyp]))}
    hyp_ids = np.asarray([vocabulary[w] for w in hyp])
    steps = np.arange(m + 1, dtype=np.float64)
    # in whole milliseconds: sums of whole numbers are exact, so a tie is a tie
    most = round(MAX_GAP_S * 1000)
    gaps = [np.round(np.minimum(time_gap(i), MAX_GAP_S) * 1000) for i in range(n)]
    edit = 2.0 * most * (min(n, m) + 1)  # one edit outweighs every gap together
    previous = steps * edit
    moves = np.zeros((n + 1, m + 1), dtype=np.int8)  # 0 diagonal, 1 deletion, 2 insertion
    moves[0, 1:] = 2
    for i in range(1, n + 1):
        equal = hyp_ids == vocabulary[ref[i - 1]]
        diagonal = previous[:-1] + np.where(equal, gaps[i - 1], edit + most)
        deletion = previous[1:] + edit
        best = np.empty(m + 1)
        best[0] = i * edit
        best[1:] = np.minimum(diagonal, deletion)
        # an insertion (from the left): best[j] = min over k <= j of best[k] + (j - k) * edit
        row = steps * edit + np.minimum.accumulate(best - steps * edit)
        moves[i, 0] = 1
        moves[i, 1:] = np.where(row[1:] < best[1:], 2, np.where(diagonal <= deletion, 0, 1))
        previous = row
    pairs, deleted = [], []
    i, j = n, m
    while i > 0 or j > 0:
        move = moves[i, j]
        if move == 0:
            if ref[i - 1] == hyp[j - 1]:
                pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif move == 1:
            deleted.append(i - 1)
            i -= 1
        else:
            j -= 1
    return pairs[::-1], deleted[::-1]
