"""The endpoint/Lambda contract (``twi_contract``) on its own: CustomAttributes, sniffing, content types."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from twi_contract import (
    BATCH_MANIFEST,
    EXTENSIONS,
    GENERIC_CONTENT_TYPE,
    MAX_CUSTOM_ATTRIBUTES_CHARS,
    BatchItem,
    BatchKeys,
    container_of,
    describe_non_audio,
    format_custom_attributes,
    pack_batch,
    parse_custom_attributes,
    parse_flag,
    sniff,
    unpack_batch,
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


# --- Coalesced requests ------------------------------------------------------------------
def test_batch_round_trip_keeps_each_file_and_its_options() -> None:
    clip = (DATA / sorted(p.name for p in DATA.iterdir() if p.suffix == ".wav")[0]).read_bytes()
    items = [
        BatchItem("id-1", clip, "audio/wav", format_custom_attributes("tw", "transcribe", "a.wav")),
        BatchItem("id-2", b"not audio at all", GENERIC_CONTENT_TYPE, "words=true"),
    ]
    body = pack_batch(items)
    assert unpack_batch(body) == items
    with zipfile.ZipFile(io.BytesIO(body)) as archive:  # audio is stored as it came, not recompressed
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_STORED}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"RIFF....WAVE", "not a application/x-twi-asr-batch body"),
        ("no_manifest", "has no manifest.json"),
        ("compressed", "must be stored"),
        ("bad_version", "format version 2"),
        ("missing_member", "names a member"),
        ("too_many", "over the limit of 2"),
        ("damaged_member", "damaged batch member '0000'"),
    ],
)
def test_unpack_batch_refuses_what_it_cannot_read_with_a_reason(body: bytes | str, reason: str) -> None:
    def archive(manifest: object | None, compression: int = zipfile.ZIP_STORED) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=compression) as z:
            z.writestr("0000", b"abc")
            if manifest is not None:
                z.writestr(BATCH_MANIFEST, json.dumps(manifest))
        return buffer.getvalue()

    item = {BatchKeys.ID: "x", BatchKeys.MEMBER: "0000"}
    bodies = {
        "no_manifest": archive(None),
        "compressed": archive({BatchKeys.VERSION: 1, BatchKeys.ITEMS: [item]}, zipfile.ZIP_DEFLATED),
        "bad_version": archive({BatchKeys.VERSION: 2, BatchKeys.ITEMS: [item]}),
        "missing_member": archive({BatchKeys.VERSION: 1, BatchKeys.ITEMS: [{**item, BatchKeys.MEMBER: "9"}]}),
        "too_many": pack_batch([BatchItem(str(i), b"abc") for i in range(3)]),
        # a byte flipped in transit: zipfile finds out (bad CRC-32) only when it reads the member
        "damaged_member": pack_batch([BatchItem("x", b"abc")]).replace(b"abc", b"abd", 1),
    }
    data = bodies[body] if isinstance(body, str) else body
    with pytest.raises(ValueError, match=reason):
        unpack_batch(data, max_items=2)


def test_pack_batch_refuses_duplicate_ids() -> None:
    with pytest.raises(ValueError, match="unique"):
        pack_batch([BatchItem("same", b"a"), BatchItem("same", b"b")])
