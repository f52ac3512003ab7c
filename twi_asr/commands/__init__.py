"""Sub-commands of ``twi-asr``; each module has ``register(subparsers)`` (see ``twi_asr.cli``)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from twi_asr.client import uncovered_note


def warn_uncovered(name: str, document: Mapping[str, Any]) -> None:
    """On stderr, where a result left speech without text (:func:`twi_asr.client.uncovered_note`)."""
    note = uncovered_note(name, document)
    if note:
        print(note, file=sys.stderr)
