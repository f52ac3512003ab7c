"""Word error rate with Whisper's English normaliser: one scoring for the demo, the benchmark and the tests.

Whisper's ``EnglishTextNormalizer`` (OpenAI's code, from the PyPI package ``whisper-normalizer``)
removes the differences that are not errors: case, punctuation, "Mister"/"Mr", number
formatting, filler words ("um", "uh").
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
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

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
    """Whisper's English normaliser, with the checkpoint's spelling map when it has one.

    ``whisper-normalizer``'s copy of OpenAI's code, not the one in transformers: importing
    transformers (and torch under it) took 5-8 s of every process that scores, the demo and
    the benchmark among them, and the two gave the same text for all 1123 references and
    transcripts of the benchmark's runs and ../shared (2026-12-01).
    """
    from whisper_normalizer.english import EnglishTextNormalizer

    normalizer = EnglishTextNormalizer()
    normalizer.standardize_spellings.mapping = spelling_map(model_dir)  # it reads english.json only
    scorer: Callable[[str], str] = normalizer
    return scorer


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
    norm = english_normalizer(model_dir)
    ref, hyp = norm(unelide(reference)), norm(unelide(hypothesis))
    if not ref.strip():
        raise ValueError("the reference is empty after normalisation: WER is undefined")
    return normalised_wer(ref, hyp)


def normalised_wer(ref: str, hyp: str) -> WerResult:
    """WER of two texts already normalised the same way (the reference not empty)."""
    import jiwer

    out = jiwer.process_words(ref, hyp if hyp.strip() else "")
    return WerResult(
        wer=round(float(out.wer), 5),
        substitutions=int(out.substitutions),
        deletions=int(out.deletions),
        insertions=int(out.insertions),
        reference_words=len(ref.split()),
    )


def unelide(text: str) -> str:
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
