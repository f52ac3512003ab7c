"""The subtitles a contender's segments make, checked against the pauses between the clips.

The product writes ``.srt``/``.vtt`` from a result's segments (:mod:`twi_lambdas.subtitles`:
without word times, as by default, each segment's time is shared among its words). A cue
is judged as a viewer would: on screen for more than ``MAX_CUE_SECONDS``, or on screen
through more than ``MAX_PAUSE_SECONDS`` of a pause in which nobody speaks. The bench knows
the pauses between the clips of its recordings (from one clip's last sound to the next
one's first: :func:`pauses_between`); a pause inside a clip (``inner_pauses``) is not known
and not checked. The endpoint's tests check their long file's cues the same way.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from twi_contract import SegmentKeys
from twi_lambdas.subtitles import MAX_CUE_SECONDS, MAX_PAUSE_SECONDS, cues


@dataclass(frozen=True)
class CueCheck:
    cues: int
    too_long: int  # on screen more than MAX_CUE_SECONDS
    over_pause: int  # on screen through more than MAX_PAUSE_SECONDS of a pause between clips
    over_pause_at_s: tuple[float, ...] = ()  # where those start, to look at

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def pauses_between(spans: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The pauses over ``MAX_PAUSE_SECONDS`` between clips at ``spans`` (``(first sound, last
    sound)`` in seconds, in order): from one clip's last sound to the next one's first."""
    between = ((end, then) for (_, end), (then, _) in itertools.pairwise(spans))
    return [(a, b) for a, b in between if b - a > MAX_PAUSE_SECONDS]


def check_cues(pauses: Sequence[tuple[float, float]], segments: Sequence[Mapping[str, Any]]) -> CueCheck:
    """The cues the product makes of ``segments`` (result segments: ``start``, ``end``,
    ``text``, ``words`` when timed) against the ``pauses`` (``(start, end)``, seconds) in
    which nobody speaks."""
    made = cues(segments)
    over = [c for c in made if any(min(c.end, b) - max(c.start, a) > MAX_PAUSE_SECONDS for a, b in pauses)]
    return CueCheck(
        cues=len(made),
        too_long=sum(c.end - c.start > MAX_CUE_SECONDS for c in made),
        over_pause=len(over),
        over_pause_at_s=tuple(round(c.start, 2) for c in over),
    )


def as_segments(timed: Sequence[tuple[float, float, str]]) -> list[dict[str, Any]]:
    """``(start, end, text)`` as result segments (what the bench's contenders return)."""
    return [{SegmentKeys.START: s, SegmentKeys.END: e, SegmentKeys.TEXT: t} for s, e, t in timed]
