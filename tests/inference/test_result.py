"""The result's word times: one word at a time, none of 0 s (``result.one_at_a_time``)."""

import itertools

import pytest
from twi_endpoint.result import one_at_a_time
from twi_endpoint.types import Word


def test_words_are_given_one_at_a_time() -> None:
    # on the VAD's frames a word's end is rounded up and the next start down: one frame shared
    words = (Word(1.0, 1.352, " so", 0.9), Word(1.32, 1.6, " my", 0.9), Word(1.6, 2.0, " fellow", 0.9))
    assert one_at_a_time(words) == [(1.0, 1.32), (1.32, 1.6), (1.6, 2.0)]


def test_words_that_start_together_share_their_time() -> None:
    # a word moved off a pause onto the onset the next word starts at (the long recording
    # of the tests: "For" of "For a full hour" had come out at 188.16-188.16 s)
    words = (
        Word(188.16, 188.32, " For", 0.9),
        Word(188.16, 188.32, " a", 0.9),
        Word(188.32, 188.512, " full", 0.9),
    )
    spans = one_at_a_time(words)
    assert spans[0][0] == 188.16 and spans[-1] == (188.32, 188.512)
    assert all(start < end for start, end in spans), spans
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    assert spans[0][1] - spans[0][0] == pytest.approx(spans[1][1] - spans[1][0])  # in equal parts
