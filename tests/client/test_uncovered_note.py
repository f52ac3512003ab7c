"""The CLI points out speech a result left without text (``metadata.uncovered_speech``)."""

from __future__ import annotations

import pytest
from twi_lambdas.results import uncovered_speech

from twi_asr.client import Result, uncovered_note
from twi_asr.commands.client import _print_result

LISTED = {
    "transcript": "Me din de Kɔfi.",
    "metadata": {
        "speech_sec": 9.8,
        "uncovered_speech": [{"start": 31.2, "end": 33.0}, {"start": 40, "end": 41.25}],
    },
}


def test_the_note_names_every_stretch() -> None:
    assert uncovered_speech(LISTED) == [(31.2, 33.0), (40.0, 41.25)]
    assert uncovered_note("audio/calls/a.m4a", LISTED) == (
        "twi-asr: audio/calls/a.m4a: speech left without text at 31.2-33.0 s, 40.0-41.2 s "
        "(metadata.uncovered_speech): listen there"
    )


@pytest.mark.parametrize(
    "document",
    [
        {"transcript": "x", "metadata": {"speech_sec": 3.0, "uncovered_speech": []}},  # clean speech
        {"transcript": "x", "metadata": {}},  # no VAD ran
        {"reason": "unsupported audio"},  # a failure
        {"transcript": "x", "metadata": {"speech_sec": 2.0, "uncovered_speech": [{"start": "soon"}, None]}},
    ],
)
def test_nothing_to_point_out(document: dict[str, object]) -> None:
    assert uncovered_note("a.wav", document) is None


def test_results_print_the_note_on_stderr_only(capsys: pytest.CaptureFixture[str]) -> None:
    _print_result(Result("audio/calls/a.m4a", LISTED), "text")
    out, err = capsys.readouterr()
    assert out == "audio/calls/a.m4a: Me din de Kɔfi.\n"
    assert err.startswith("twi-asr: audio/calls/a.m4a: speech left without text at 31.2-33.0 s")
