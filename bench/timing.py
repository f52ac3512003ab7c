"""Timing error: how far segment starts are from where each reference clip's speech starts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from twi_asr.scoring import english_normalizer, unelide


@dataclass(frozen=True)
class TimingResult:
    """How well segment starts match where each reference clip's speech really starts."""

    clips: int
    found: int  # clips whose first words were found in some segment
    median_s: float | None  # |true start - start of the segment holding the clip's first words|
    p95_s: float | None
    within_half_s: float  # share of clips (missing ones count as misses) within 0.5 s
    max_segment_s: float  # the longest segment

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def start_timing(
    spans: Sequence[tuple[float, str]],
    segments: Sequence[tuple[float, float, str]],
    model_dir: str | None = None,
) -> TimingResult:
    """For each reference clip (``(true_start_s, reference)``), the distance between its true
    start and the start of the segment that holds its first recognised words.

    Words are matched by the same minimum-edit alignment that scores the WER (jiwer), so a
    clip's first words are looked for where they belong, not wherever the same words occur:
    a long input repeats clips, and difflib's greedy longest blocks then matched whole clips
    to the wrong repetition (on one 10-minute mix 14 of 36 clips went unfound).
    """
    import jiwer

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
    first_match: dict[int, int] = {}  # clip -> hypothesis word matched to its earliest word
    if ref_words and hyp_words:
        for chunk in jiwer.process_words(" ".join(ref_words), " ".join(hyp_words)).alignments[0]:
            if chunk.type == "equal":
                for i in range(chunk.ref_end_idx - chunk.ref_start_idx):
                    first_match.setdefault(ref_clip[chunk.ref_start_idx + i], chunk.hyp_start_idx + i)
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
    )
