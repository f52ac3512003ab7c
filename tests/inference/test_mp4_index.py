"""MP4 files whose index follows the audio go to ffmpeg from a seekable file at once
(``twi_endpoint.audio.index_after_audio``): one ffmpeg start per request instead of two."""

from __future__ import annotations

from pathlib import Path

from twi_endpoint.audio import index_after_audio

DATA = Path(__file__).resolve().parents[1] / "data"


def box(kind: bytes, payload: bytes = b"") -> bytes:
    return (8 + len(payload)).to_bytes(4, "big") + kind + payload


def test_index_after_the_audio_is_seen_from_the_box_headers() -> None:
    assert index_after_audio((DATA / "sonnet1.m4a").read_bytes())  # a phone-style m4a: moov last
    assert index_after_audio(box(b"ftyp", b"M4A ") + box(b"mdat", b"\0" * 32) + box(b"moov"))
    assert not index_after_audio(box(b"ftyp", b"M4A ") + box(b"moov") + box(b"mdat", b"\0" * 32))
    # a 64-bit box size before the audio
    large = (1).to_bytes(4, "big") + b"free" + (24).to_bytes(8, "big") + b"\0" * 8
    assert index_after_audio(box(b"ftyp") + large + box(b"mdat"))


def test_damaged_or_truncated_headers_keep_the_pipe_first() -> None:
    assert not index_after_audio(b"")
    assert not index_after_audio(box(b"ftyp")[:6])
    assert not index_after_audio((0).to_bytes(4, "big") + b"free" + b"\0" * 40)  # size 0 before either
    assert not index_after_audio((3).to_bytes(4, "big") + b"junk" + b"\0" * 40)  # impossible size
    truncated = (DATA / "sonnet1.m4a").read_bytes()[:3000]  # mdat's header is there, moov is not
    assert index_after_audio(truncated)
