"""``twi-asr eval`` end to end on shipped clips, with the real offline model behind the real handler."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from twi_asr.cli import main

DATA_DIR = Path(__file__).resolve().parents[1] / "data"

TWI_CLIPS = ("twi_34997394.mp3", "twi_36831073.mp3")  # Common Voice tw, 3.5 s and 4.7 s
ENGLISH_CLIP = "librivox_0880.wav"  # 3 s: "he was not an ill disposed young man"


def _manifest(folder: Path, names: tuple[str, ...]) -> Path:
    """A manifest of some shipped clips (linked beside it), in the ../shared/data format."""
    with open(DATA_DIR / "manifest.tsv", encoding="utf-8", newline="") as f:
        rows = {r["file"]: r for r in csv.DictReader(f, delimiter="\t")}
    lines = ["file\tduration_s\treference\tsource\tlicense\tnotes"]
    for n in names:
        (folder / n).symlink_to(DATA_DIR / n)
    lines += [f"{n}\t{rows[n]['duration_s']}\t{rows[n]['reference']}\tx\tx\t" for n in names]
    path = folder / "manifest.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_eval_prints_and_writes_the_per_clip_table(
    tmp_path: Path, ct2_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = _manifest(tmp_path, (*TWI_CLIPS, ENGLISH_CLIP))
    out = tmp_path / "out"
    assert (
        main(["eval", str(manifest), "--model", str(ct2_model_dir), "--out", str(out), "--worst", "2"]) == 0
    )
    printed = capsys.readouterr().out

    assert "3 clips from" in printed and "ɛ/ɔ kept" in printed
    assert "WER" in printed and "CER" in printed and "RTF" in printed
    assert "whisper-base-ct2  ctranslate2" in printed
    assert "worst 2 clips of whisper-base-ct2" in printed
    refs = [line.strip() for line in printed.splitlines() if line.strip().startswith("REF: ")]
    assert any("dɛn" in line for line in refs)  # a Twi reference, normalised, its hypothesis under it
    assert printed.count("HYP: ") >= 2

    rows = _csv(out / "clips.csv")
    assert [r["rank"] for r in rows] == ["1", "2", "3"]
    assert {r["file"] for r in rows} == {*TWI_CLIPS, ENGLISH_CLIP}
    wers = [float(r["wer"]) for r in rows]
    assert wers == sorted(wers, reverse=True)  # worst first
    assert all(0.0 <= w <= 10.0 for w in wers) and all(0.0 <= float(r["cer"]) <= 10.0 for r in rows)
    english = next(r for r in rows if r["file"] == ENGLISH_CLIP)
    assert float(english["wer"]) <= 0.2 and english["language"] == "en"  # the harness scores right
    assert rows[-1]["file"] == ENGLISH_CLIP
    assert all(float(r["rtf"]) > 0 and r["language_source"] == "detected" for r in rows)

    document = json.loads((out / "eval.json").read_text(encoding="utf-8"))
    assert document["normaliser"]["name"] == "twi" and document["normaliser"]["fold_informal"] is False
    (model,) = document["models"]
    assert model["engine"] == "ctranslate2" and model["clips"][0]["file"] == rows[0]["file"]
    words = sum(int(r["reference_words"]) for r in rows)
    edits = sum(int(r[k]) for r in rows for k in ("word_substitutions", "word_deletions", "word_insertions"))
    assert model["wer"] == pytest.approx(edits / words, abs=1e-4)  # a corpus rate
    audio = sum(float(r["audio_duration_sec"]) for r in rows)
    assert model["rtf"] == pytest.approx(sum(float(r["processing_time_sec"]) for r in rows) / audio, abs=1e-3)
    (summary,) = _csv(out / "summary.csv")
    assert float(summary["wer"]) == model["wer"]
    assert f"{model['wer']:.3f}" in printed


def test_two_models_side_by_side(
    tmp_path: Path, ct2_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = _manifest(tmp_path, (ENGLISH_CLIP,))
    args = ["eval", str(manifest), "--model", f"one={ct2_model_dir}", "--model", f"two={ct2_model_dir}"]
    assert main([*args, "--language", "en", "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    header = next(line for line in printed.splitlines() if line.startswith("#  file"))
    assert "one WER" in header and "two WER" in header
    summary = _csv(tmp_path / "out" / "summary.csv")
    assert [s["model"] for s in summary] == ["one", "two"]
    assert summary[0]["wer"] == summary[1]["wer"] and summary[0]["language"] == "en (request)"
    assert {r["model"] for r in _csv(tmp_path / "out" / "clips.csv")} == {"one", "two"}


@pytest.mark.shared
def test_a_ctranslate2_and_a_transformers_model(
    tmp_path: Path, ct2_model_dir: Path, hf_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = _manifest(tmp_path, (ENGLISH_CLIP,))
    args = ["eval", str(manifest), "--model", str(ct2_model_dir), "--model", f"hf={hf_model_dir}"]
    assert main([*args, "--language", "en", "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "whisper-base-ct2 WER" in printed and "hf WER" in printed
    engines = {s["model"]: s["engine"] for s in _csv(tmp_path / "out" / "summary.csv")}
    assert engines == {"whisper-base-ct2": "ctranslate2", "hf": "transformers"}


def test_probe_language_recommends_a_token(
    tmp_path: Path, ct2_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = _manifest(tmp_path, TWI_CLIPS)
    out = tmp_path / "out"
    args = ["eval", str(manifest), "--model", str(ct2_model_dir), "--probe-language", "--sample", "1"]
    assert main([*args, "--candidates", "yo,xx", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "language probe of whisper-base-ct2 on 1 clips" in printed
    assert "skipped: the model has no <|xx|> token" in printed
    line = next(x for x in printed.splitlines() if x.startswith("recommended language token: "))
    token = line.split(": ")[1].split()[0]
    assert token in ("none", "yo")
    assert f"make package MODEL={ct2_model_dir} LANGUAGE_TOKEN={token}" in printed
    (probe,) = json.loads((out / "probe.json").read_text(encoding="utf-8"))["probes"]
    assert probe["recommended"] == token
    tried = {c["token"]: c for c in probe["candidates"]}
    assert set(tried) == {"none", "yo", "xx"} and tried["xx"]["skipped"]
    assert (
        tried["yo"]["language"] == "tw as yo (request)"
        and tried["none"]["language"] == "tw as none (request)"
    )
    assert not (ct2_model_dir / "twi_language.json").exists()  # the probe wrote into copies only


def test_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(tmp_path / "nothing.tsv")]) == 2
    assert "cannot read the manifest" in capsys.readouterr().err
    (tmp_path / "manifest.tsv").write_text("file\treference\nmissing.mp3\tAane\n", encoding="utf-8")
    assert main(["eval", str(tmp_path)]) == 2
    assert "no audio file at" in capsys.readouterr().err
    manifest = _manifest(tmp_path, (ENGLISH_CLIP,))
    assert main(["eval", str(manifest), "--model", str(tmp_path / "no-model")]) == 2
    assert "no model directory" in capsys.readouterr().err
