"""The Twi text normaliser ``twi-asr eval`` scores with: what differs only in writing is no error.

Applied the same way to the reference and the hypothesis, in this order:

1. Unicode NFC, so a letter typed precomposed (``é``, U+00E9) and decomposed (``e`` + U+0301)
   are the same text;
2. look-alike letters become the Twi ones: Greek ``ε`` and Cyrillic ``ԑ``/``Ԑ`` -> ``ɛ``,
   reversed ``ↄ``/``Ↄ`` -> ``ɔ`` (keyboards without Twi letters produce them; nothing is lost);
3. case folding (``Ɔ`` -> ``ɔ``, ``Ɛ`` -> ``ɛ``, ``A`` -> ``a``);
4. optional (``fold_informal``): the informal spellings people type, ``3`` for ``ɛ`` and ``c`` for
   ``ɔ`` (``3nn3`` -> ``ɛnnɛ``, ``ckcmfo`` -> ``ɔkɔmfo``). ``c`` is not a letter of the Twi
   alphabet, so in Twi text it can only stand for ``ɔ``; a ``3`` is folded only inside a word that
   has letters, so numbers (``2023``, ``3``) stay numbers;
5. optional (``fold_tones``): tone marks removed (acute, grave, circumflex, macron, caron,
   double acute and double grave above a letter: ``ɛ́`` -> ``ɛ``, ``à`` -> ``a``); other marks stay;
6. punctuation removed: apostrophes (``'``, ``’``, ``ʼ``) are dropped so an elision is one word
   (``w'ani`` -> ``wani``); every other punctuation or symbol character (``. , ? ! " - • …``)
   becomes a space;
7. runs of whitespace become one space, none at either end.

``ɛ`` and ``ɔ`` are letters and are always kept: ``ɛ`` is never folded to ``e``, nor ``ɔ`` to ``o``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass

# Tone marks as combining characters (the NFD form of a toned vowel is the vowel + one of these).
TONE_MARKS = frozenset(
    {
        "\u0300",  # grave: low tone
        "\u0301",  # acute: high tone
        "\u0302",  # circumflex: falling
        "\u0304",  # macron: mid
        "\u030c",  # caron: rising
        "\u030b",  # double acute
        "\u030f",  # double grave
    }
)
_LOOKALIKES = str.maketrans({"ε": "ɛ", "ԑ": "ɛ", "Ԑ": "Ɛ", "ↄ": "ɔ", "Ↄ": "Ɔ"})
_APOSTROPHES = str.maketrans(dict.fromkeys("'’‘ʼ`´", ""))
_INFORMAL_C = str.maketrans({"c": "ɔ"})
_WORD_WITH_3 = re.compile(r"\w*3\w*")


@dataclass(frozen=True)
class TwiNormaliser:
    """``TwiNormaliser()(text)``: comparable Twi text (see the module docstring)."""

    fold_informal: bool = False  # 3 -> ɛ, c -> ɔ
    fold_tones: bool = False  # remove tone marks

    def __call__(self, text: str) -> str:
        text = unicodedata.normalize("NFC", text).translate(_LOOKALIKES).casefold()
        if self.fold_informal:
            text = _WORD_WITH_3.sub(_fold_3, text.translate(_INFORMAL_C))
        if self.fold_tones:
            text = strip_tone_marks(text)
        text = text.translate(_APOSTROPHES)
        text = "".join(" " if unicodedata.category(c)[0] in "PS" else c for c in text)
        return " ".join(text.split())

    def as_dict(self) -> dict[str, bool | str]:
        return {"name": "twi", "nfc": True, "casefold": True, "punctuation": "removed", **asdict(self)}

    def describe(self) -> str:
        folds = [
            name
            for name, on in (("3->ɛ c->ɔ", self.fold_informal), ("tone marks removed", self.fold_tones))
            if on
        ]
        return "Twi normaliser: NFC, case folded, punctuation removed, ɛ/ɔ kept" + (
            "; " + ", ".join(folds) if folds else ""
        )


def strip_tone_marks(text: str) -> str:
    """Remove the tone marks of :data:`TONE_MARKS`; the result is NFC."""
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in TONE_MARKS))


def _fold_3(match: re.Match[str]) -> str:
    word = match.group(0)
    return word.replace("3", "ɛ") if any(c.isalpha() for c in word) else word


def graphemes(text: str) -> list[str]:
    """``text`` as user-perceived characters: a letter with its combining marks is one (``ɛ́``)."""
    out: list[str] = []
    for c in text:
        if out and unicodedata.combining(c):
            out[-1] += c
        else:
            out.append(c)
    return out
