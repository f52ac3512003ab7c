"""The endpoint/Lambda contract (``twi_contract``) on its own: CustomAttributes, sniffing, content types."""

from __future__ import annotations

from pathlib import Path

import pytest
from twi_contract import (
    EXTENSIONS,
    MAX_CUSTOM_ATTRIBUTES_CHARS,
    container_of,
    describe_non_audio,
    format_custom_attributes,
    parse_custom_attributes,
    parse_flag,
    sniff,
)

DATA = Path(__file__).resolve().parent / "data"


def test_custom_attributes_are_printable_ascii() -> None:
    assert format_custom_attributes("tw", "transcribe") == "language=tw;task=transcribe"
    assert (
        format_custom_attributes(None, "translate", "ɔkyeame;1=2.ogg")
        == "task=translate;filename=_kyeame_1_2.ogg"
    )
    assert format_custom_attributes("en", words=True) == "language=en;words=true"
    assert format_custom_attributes(task="", words=False) == ""
    assert len(format_custom_attributes("tw", "transcribe", "a" * 5000)) <= MAX_CUSTOM_ATTRIBUTES_CHARS
    with pytest.raises(ValueError, match="printable ASCII"):
        format_custom_attributes(task="ɛ")
    with pytest.raises(ValueError, match="invalid language 'ɛ'"):  # the language grammar says first
        format_custom_attributes("ɛ")


def test_custom_attributes_round_trip_and_leniency() -> None:
    value = format_custom_attributes("yo", "transcribe", "note.m4a", words=True)
    assert parse_custom_attributes(value) == {
        "language": "yo",
        "task": "transcribe",
        "words": "true",
        "filename": "note.m4a",
    }
    assert parse_custom_attributes("Language=tw; task=transcribe;trace=abc;junk;=x") == {
        "language": "tw",
        "task": "transcribe",
        "trace": "abc",
    }
    assert parse_custom_attributes(None) == {}
    assert parse_flag(" Yes", "words") and not parse_flag("", "words")
    with pytest.raises(ValueError, match="invalid words='maybe' in CustomAttributes: expected true or"):
        parse_flag("maybe", "words")


@pytest.mark.parametrize(
    ("clip", "audio_format", "container"),
    [
        ("jfk.mp3", "mp3", "mp3"),
        ("jfk.opus", "opus", "ogg"),
        ("librivox_0870.wav", "wav", "wav"),
        ("sonnet1.m4a", "mp4", "mp4"),
        ("sonnet1.mp3", "mp3", "mp3"),
        ("sonnet1.ogg", "ogg", "ogg"),
        ("sonnet1.webm", "webm", "webm"),
        ("twi_34997394.mp3", "mp3", "mp3"),
    ],
)
def test_real_clips_are_recognised_from_their_first_bytes(
    clip: str, audio_format: str, container: str
) -> None:
    head = (DATA / clip).read_bytes()
    assert sniff(head) == audio_format and container_of(audio_format) == container
    assert describe_non_audio(head[:64]) is None
    assert EXTENSIONS[clip.rsplit(".", 1)[1]].container == container


def test_clearly_not_audio() -> None:
    assert describe_non_audio(b"%PDF-1.7\n") == "a PDF document"
    assert describe_non_audio(b"\xff\xd8\xff\xe0\x00\x10JFIF") == "a JPEG image"
    assert sniff(b"\xff\xd8\xff\xe0\x00\x10JFIF") is None  # not an MPEG frame sync
    assert describe_non_audio("Ɛnnɛ yɛbɛkasa".encode()[:-1]) == "text"  # cut mid-letter
    assert describe_non_audio(b'{"inputs": "s3://bucket/audio/a.wav"}') == "text"
    assert describe_non_audio(bytes(range(256))[:64]) is None  # unknown binary: undecided
