"""The Twi normaliser and the WER/CER scoring behind ``twi-asr eval``: no model needed."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest

from twi_asr.evaluation.manifest import ManifestError, read_manifest
from twi_asr.evaluation.metrics import display_width, render_alignment, score
from twi_asr.evaluation.runner import (
    ClipResult,
    ModelRun,
    candidate_tokens,
    parse_model_specs,
    transcribe_and_score,
)
from twi_asr.text_normalise import TwiNormaliser, graphemes, strip_tone_marks

plain = TwiNormaliser()
informal = TwiNormaliser(fold_informal=True)
toneless = TwiNormaliser(fold_tones=True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ɔkɔmfo", "ɔkɔmfo"),
        ("ƆKƆMFO no!", "ɔkɔmfo no"),
        ("Ɛnnɛ", "ɛnnɛ"),
        ("Dɛn na Bible ka wɔ ho?", "dɛn na bible ka wɔ ho"),
        ("• Ma wo yere nhu sɛ wopene nufuma so.", "ma wo yere nhu sɛ wopene nufuma so"),
        ("Dabi, ɛnte saa", "dabi ɛnte saa"),
        (
            "Minnim nea Kwasi nim, nanso Kwasi nim nea minim.",
            "minnim nea kwasi nim nanso kwasi nim nea minim",
        ),
        ("“Aane,” ɔkaa sɛ: «mebɛba»…", "aane ɔkaa sɛ mebɛba"),
        ("W'ani agye? W’ani agye!", "wani agye wani agye"),  # an elision stays one word
        ("Kofi-Ama  —\tne\nAkosua", "kofi ama ne akosua"),
        ("Mfe 2023 mu", "mfe 2023 mu"),
    ],
)
def test_the_plain_normaliser(text: str, expected: str) -> None:
    assert plain(text) == expected


def test_open_e_and_open_o_are_letters_never_folded() -> None:
    for norm in (plain, informal, toneless, TwiNormaliser(True, True)):
        assert norm("Ɔkɔmfo ɛnnɛ") == "ɔkɔmfo ɛnnɛ"
    assert plain("ɔkɔmfo") != plain("okomfo") and plain("ɛnnɛ") != plain("enne")


def test_informal_spellings_fold_only_with_the_flag() -> None:
    assert plain("3nn3") == "3nn3" and plain("ckcmfo") == "ckcmfo"
    assert informal("3nn3") == "ɛnnɛ"
    assert informal("Ckcmfo") == "ɔkɔmfo"  # c for ɔ, upper case too
    assert informal("3nn3 y3 da a, ckcmfo no b3ba.") == "ɛnnɛ yɛ da a ɔkɔmfo no bɛba"
    assert informal("Mfe 2023 ne 3") == "mfe 2023 ne 3"  # numbers stay numbers


def test_composed_and_decomposed_input_are_the_same_text() -> None:
    composed, decomposed = "Ɔbáà", "Ɔba\u0301a\u0300"
    assert composed != decomposed and unicodedata.normalize("NFC", decomposed) == composed
    assert plain(composed) == plain(decomposed) == "ɔbáà"
    # ɛ/ɔ with a tone mark have no precomposed form: still one reading, however typed
    assert plain("ɛ\u0301nnɛ") == plain(unicodedata.normalize("NFD", "ɛ\u0301nnɛ")) == "ɛ\u0301nnɛ"


def test_tone_marks_fold_only_with_the_flag() -> None:
    toned = "Ɔ\u0301kɔ\u0300mfo ɛ\u0301nnɛ\u0302 bá"
    assert plain(toned) == "ɔ\u0301kɔ\u0300mfo ɛ\u0301nnɛ\u0302 bá"
    assert toneless(toned) == "ɔkɔmfo ɛnnɛ ba"
    assert strip_tone_marks("naïve") == "naïve"  # not a tone mark: kept


def test_look_alike_letters_become_the_twi_ones() -> None:
    assert plain("εnnε") == "ɛnnɛ"  # Greek epsilon, as keyboards without ɛ type it
    assert plain("Ↄkↄmfo") == "ɔkɔmfo"


def test_the_normaliser_describes_itself() -> None:
    assert TwiNormaliser(True, True).as_dict()["fold_informal"] is True
    assert "3->ɛ" in informal.describe() and "tone" in toneless.describe()
    assert "ɛ/ɔ kept" in plain.describe()


def test_wer_and_cer_after_normalising() -> None:
    s = score("Ɛnnɛ, Ɔkɔmfo no bɛba.", "3nn3 ckcmfo no b3ba", informal)
    assert (s.words.wer, s.chars.cer) == (0.0, 0.0)
    s = score("Ɛnnɛ, Ɔkɔmfo no bɛba.", "3nn3 ckcmfo no b3ba", plain)
    assert s.words.wer == 0.75 and s.words.substitutions == 3 and s.words.reference_words == 4
    assert s.chars.substitutions == 5 and s.chars.reference_chars == len("ɛnnɛ ɔkɔmfo no bɛba")
    empty = score("Dabi, ɛnte saa", "", plain)
    assert empty.words.wer == 1.0 and empty.words.deletions == 3
    with pytest.raises(ValueError, match="empty after normalisation"):
        score("•?!", "anything", plain)


def test_a_letter_with_its_tone_mark_is_one_character() -> None:
    assert graphemes("ɛ\u0301nnɛ") == ["ɛ\u0301", "n", "n", "ɛ"]
    s = score("ɛ\u0301nnɛ", "ɛnnɛ", plain)
    assert s.chars.reference_chars == 4 and s.chars.substitutions == 1 and s.chars.cer == 0.25
    assert score("ɛ\u0301nnɛ", "ɛnnɛ", toneless).chars.cer == 0.0


def test_reference_and_hypothesis_side_by_side() -> None:
    lines = render_alignment("ɛnnɛ yɛ da", "ɛnɛ yɛ da pa")
    assert lines == [
        "REF: ɛnnɛ yɛ da **",
        "HYP: ɛnɛ  yɛ da pa",
        "     S          I",
    ]
    assert display_width("ɛ\u0301") == 1
    wrapped = render_alignment(" ".join(["akwaaba"] * 30), " ".join(["akwaaba"] * 30), width=40)
    assert len(wrapped) > 2 and all(display_width(line) <= 40 for line in wrapped)


def test_a_manifest_in_the_shared_format(tmp_path: Path) -> None:
    (tmp_path / "a.mp3").write_bytes(b"ID3")
    (tmp_path / "manifest.tsv").write_text(
        "file\tduration_s\treference\tsource\tlicense\tnotes\n"
        'a.mp3\t5.444\t• Ma wo yere nhu sɛ wopene nufuma so.\tcv\tCC0-1.0\t"starts with ""•"""\n',
        encoding="utf-8",
    )
    (clip,) = read_manifest(tmp_path)  # the folder or the file
    assert (clip.file, clip.path, clip.duration_s) == ("a.mp3", tmp_path / "a.mp3", 5.444)
    assert clip.reference.startswith("• Ma wo")
    (tmp_path / "manifest.tsv").write_text("file\treference\nb.mp3\tAane\n", encoding="utf-8")
    with pytest.raises(ManifestError, match="line 2: no audio file"):
        read_manifest(tmp_path / "manifest.tsv")
    (tmp_path / "manifest.tsv").write_text("path\ttext\na.mp3\tAane\n", encoding="utf-8")
    with pytest.raises(ManifestError, match="no file, reference column"):
        read_manifest(tmp_path)


def test_a_manifest_saved_by_a_spreadsheet(tmp_path: Path) -> None:
    """Excel and LibreOffice write a byte-order mark, Windows line ends and the column names
    as someone typed them: read as the shared format, not refused for a missing column."""
    (tmp_path / "manifest.tsv").write_bytes(
        "\ufeffFile\t Duration_s \tReference\r\nɔdɔ.wav\t2.5\tƆdɔ yɛ dɛ.\r\n".encode()
    )
    (clip,) = read_manifest(tmp_path, check_files=False)
    assert (clip.file, clip.reference, clip.duration_s) == ("ɔdɔ.wav", "Ɔdɔ yɛ dɛ.", 2.5)


def test_a_manifest_that_lists_noise_without_a_reference(tmp_path: Path) -> None:
    """../shared's ``long/`` lists noise recordings with no reference: an evaluation refuses
    them, the benchmark (``skip_unreferenced``) reads the speech only."""
    (tmp_path / "manifest.tsv").write_text(
        "file\tduration_s\treference\nspeech.wav\t3.0\tAane\nnoise.wav\t60.0\t\n", encoding="utf-8"
    )
    with pytest.raises(ManifestError, match=r"line 3: noise\.wav has no reference"):
        read_manifest(tmp_path, check_files=False)
    (clip,) = read_manifest(tmp_path, check_files=False, skip_unreferenced=True)
    assert (clip.file, clip.reference, clip.duration_s) == ("speech.wav", "Aane", 3.0)
    (tmp_path / "manifest.tsv").write_text("file\treference\nnoise.wav\t\n", encoding="utf-8")
    assert read_manifest(tmp_path, check_files=False, skip_unreferenced=True) == []


def test_model_names() -> None:
    specs = parse_model_specs(["/m/whisper-base", "/n/whisper-base", "mine=/o/x", "rel/dir"])
    assert [s.name for s in specs] == ["whisper-base", "whisper-base-2", "mine", "dir"]
    assert specs[2].path == Path("/o/x")


def test_the_declared_token_is_a_candidate(tmp_path: Path) -> None:
    assert candidate_tokens(tmp_path)[:2] == ["none", "yo"]
    (tmp_path / "twi_language.json").write_text(json.dumps({"token": "ha"}), encoding="utf-8")
    assert candidate_tokens(tmp_path, ["en", "ha", "none"]) == ["none", "ha", "en"]


class _Refusing:
    def invoke(self, body: bytes, content_type: str, custom_attributes: str = "") -> bytes:
        assert "language=yo" in custom_attributes and "filename=a.mp3" in custom_attributes
        raise ValueError("invalid audio")


class _Answering:
    def __init__(self, transcript: str) -> None:
        self.transcript = transcript

    def invoke(self, body: bytes, content_type: str, custom_attributes: str = "") -> bytes:
        return json.dumps(
            {
                "transcript": self.transcript,
                "language": "tw",
                "metadata": {
                    "audio_duration_sec": 2.0,
                    "processing_time_sec": 1.0,
                    "rtf": 0.5,
                    "language_source": "request",
                    "language_token": "yo",
                },
            }
        ).encode()


def test_clips_are_scored_from_the_handlers_result(tmp_path: Path) -> None:
    (tmp_path / "a.mp3").write_bytes(b"ID3")
    (tmp_path / "manifest.tsv").write_text("file\treference\na.mp3\tƐnnɛ yɛ da\n", encoding="utf-8")
    (clip,) = read_manifest(tmp_path)

    failed = transcribe_and_score(_Refusing(), clip, plain, "yo")
    assert failed.error == "invalid audio" and failed.hypothesis == "" and failed.wer == 1.0

    run = ModelRun("m", "/m", "tw", [transcribe_and_score(_Answering("ɛnnɛ yɛ"), clip, plain, "tw")])
    good = run.clips[0]
    assert (good.wer, good.rtf, good.language, good.language_token) == (0.33333, 0.5, "tw", "yo")
    assert run.language_summary == "tw as yo (request)" and run.rtf == 0.5
    run.clips.append(ClipResult("b", "x", "", wer=1.0, cer=1.0, language="en", language_source="detected"))
    assert [c.file for c in run.sorted_clips] == ["b", "a.mp3"]
