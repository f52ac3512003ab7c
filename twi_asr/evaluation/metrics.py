"""WER and CER (jiwer) of a hypothesis against a reference, both normalised the same way.

* WER: (substitutions + deletions + insertions) / reference words; the totals of a model are
  corpus rates (all edits over all reference words), not a mean of per-clip rates;
* CER: the same over characters, spaces included, where a character is what a reader sees as
  one: a letter with its tone mark (``ɛ́``) is one character, however it is encoded.

Word-level results use :class:`twi_asr.scoring.WerResult`, the type the demo and the
benchmark report.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

from twi_asr.scoring import WerResult, normalised_wer
from twi_asr.text_normalise import graphemes

_SPACE = "\u2581"  # stands for a space when characters are scored as jiwer "words"


@dataclass(frozen=True)
class CerResult:
    cer: float
    substitutions: int
    deletions: int
    insertions: int
    reference_chars: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class Scores:
    reference: str  # normalised
    hypothesis: str  # normalised
    words: WerResult
    chars: CerResult


def score(reference: str, hypothesis: str, normalise: Callable[[str], str]) -> Scores:
    """Normalise both texts and compute WER and CER; ValueError when the reference normalises to ''."""
    import jiwer

    ref, hyp = normalise(reference), normalise(hypothesis)
    if not ref:
        raise ValueError(f"the reference {reference!r} is empty after normalisation: WER is undefined")
    c = jiwer.process_words(_char_tokens(ref), _char_tokens(hyp))
    ref_chars = len(graphemes(ref))
    return Scores(
        ref,
        hyp,
        normalised_wer(ref, hyp),
        CerResult(
            cer=round(float(c.wer), 5),
            substitutions=int(c.substitutions),
            deletions=int(c.deletions),
            insertions=int(c.insertions),
            reference_chars=ref_chars,
        ),
    )


def corpus_rate(results: Iterable[WerResult | CerResult]) -> float | None:
    """All edits over all reference units; None with no reference units."""
    edits = units = 0
    for r in results:
        edits += r.substitutions + r.deletions + r.insertions
        units += r.reference_words if isinstance(r, WerResult) else r.reference_chars
    return round(edits / units, 5) if units else None


def _char_tokens(text: str) -> str:
    """``"ɛnnɛ yɛ"`` -> ``"ɛ n n ɛ ▁ y ɛ"``: one jiwer "word" per character."""
    return " ".join(_SPACE if g == " " else g for g in graphemes(text))


def align(reference: str, hypothesis: str) -> list[tuple[str, str, str]]:
    """Word alignment of two normalised texts: ``(ref word, hyp word, op)`` with op one of
    ``" "`` (equal), ``S``, ``D`` (ref word missing from hyp) or ``I`` (extra hyp word)."""
    import jiwer

    if not reference:
        return [("", w, "I") for w in hypothesis.split()]
    out = jiwer.process_words(reference, hypothesis)
    ref_words, hyp_words = out.references[0], out.hypotheses[0]
    rows: list[tuple[str, str, str]] = []
    for chunk in out.alignments[0]:
        refs = ref_words[chunk.ref_start_idx : chunk.ref_end_idx]
        hyps = hyp_words[chunk.hyp_start_idx : chunk.hyp_end_idx]
        if chunk.type == "equal":
            rows += [(r, h, " ") for r, h in zip(refs, hyps, strict=True)]
        elif chunk.type == "substitute":
            rows += [(r, h, "S") for r, h in zip(refs, hyps, strict=True)]
        elif chunk.type == "delete":
            rows += [(r, "", "D") for r in refs]
        else:
            rows += [("", h, "I") for h in hyps]
    return rows


def display_width(text: str) -> int:
    """Columns ``text`` takes in a terminal: combining marks take none, wide (CJK) characters two."""
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text
    )


def pad(text: str, width: int, right: bool = False) -> str:
    """``text`` padded with spaces to ``width`` display columns."""
    fill = " " * max(0, width - display_width(text))
    return fill + text if right else text + fill


def render_alignment(reference: str, hypothesis: str, width: int = 100, indent: str = "") -> list[str]:
    """The reference and hypothesis side by side, word under word, wrapped to ``width``::

    REF: ɛnnɛ  yɛ  *****
    HYP: ɛnɛ   yɛ  papa
         S         I
    """
    cells = []
    for ref, hyp, op in align(reference, hypothesis):
        ref, hyp = ref or "*" * max(1, display_width(hyp)), hyp or "*" * max(1, display_width(ref))
        cells.append((ref, hyp, op, max(display_width(ref), display_width(hyp))))
    lines: list[str] = []
    start = 0
    while start < len(cells) or not lines:
        used, end = 0, start
        while end < len(cells) and (end == start or used + cells[end][3] + 1 <= width - 5 - len(indent)):
            used += cells[end][3] + 1
            end += 1
        row = cells[start:end]
        lines.append(indent + "REF: " + " ".join(pad(r, w) for r, _, _, w in row).rstrip())
        lines.append(indent + "HYP: " + " ".join(pad(h, w) for _, h, _, w in row).rstrip())
        marks = " ".join(pad(op, w) for _, _, op, w in row).rstrip()
        if marks:
            lines.append(indent + "     " + marks)
        start = end
        if not cells:
            break
    return lines
