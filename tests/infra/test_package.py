"""model.tar.gz packaging: the layout SageMaker and the Hugging Face toolkit expect, on real models."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
from twi_infra.package import PackageError, main, model_format, package
from twi_infra.paths import ENDPOINT_CODE_DIR


def _names(archive: Path) -> list[str]:
    with tarfile.open(archive, "r:gz") as tar:
        return tar.getnames()


@pytest.fixture
def code_dir(tmp_path: Path) -> Path:
    """A small stand-in for inference/, with the caches a developer machine accumulates."""
    code = tmp_path / "inference"
    (code / "pkg" / "__pycache__").mkdir(parents=True)
    (code / "inference.py").write_text("def model_fn(model_dir):\n    return model_dir\n")
    (code / "pkg" / "mod.py").write_text("X = 1\n")
    (code / "pkg" / "__pycache__" / "mod.cpython-312.pyc").write_bytes(b"\0")
    (code / "stale.pyc").write_bytes(b"\0")
    return code


def test_ct2_model_with_project_code(ct2_model_dir: Path, tmp_path: Path) -> None:
    """The real inference/ ships as code/, model files at the root, no bytecode caches."""
    out = tmp_path / "model.tar.gz"
    result = package(ct2_model_dir, out, wheels=None)  # no engine given: the model's own format is kept
    names = _names(out)
    assert result.engine == "ctranslate2" and not result.converted
    assert list(result.members) == names
    assert {"model.bin", "config.json", "tokenizer.json"} <= set(names)
    assert "code/inference.py" in names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    expected_code = {
        "code/" + p.relative_to(ENDPOINT_CODE_DIR).as_posix()
        for p in ENDPOINT_CODE_DIR.rglob("*")
        if p.is_file()
        and not any(part == "__pycache__" or part.endswith(("_cache", ".egg-info")) for part in p.parts)
        and p.suffix != ".pyc"
    }
    assert {n for n in names if n.startswith("code/")} == expected_code
    with tarfile.open(out, "r:gz") as tar:
        member = tar.getmember("model.bin")
        assert member.size == (ct2_model_dir / "model.bin").stat().st_size
        assert member.mtime == 0 and member.uid == 0


def test_archive_is_deterministic_and_skips_caches(code_dir: Path, tmp_path: Path) -> None:
    """Same input, same bytes: the CDK asset hash changes only when the content does."""
    a = package(None, tmp_path / "a.tar.gz", code_dir=code_dir, wheels=None)
    b = package(None, tmp_path / "b.tar.gz", code_dir=code_dir, wheels=None)
    assert (tmp_path / "a.tar.gz").read_bytes() == (tmp_path / "b.tar.gz").read_bytes()
    assert a.engine == "none"
    assert list(b.members) == ["code/inference.py", "code/pkg/mod.py"]
    assert not list(tmp_path.glob(".*tmp*"))  # the temporary file was renamed into place


@pytest.mark.shared
def test_transformers_checkpoint_as_is(hf_model_dir: Path, code_dir: Path, tmp_path: Path) -> None:
    result = package(
        hf_model_dir, tmp_path / "model.tar.gz", engine="transformers", code_dir=code_dir, wheels=None
    )
    names = set(_names(result.archive))
    assert result.engine == "transformers" and not result.converted
    assert {"config.json", "model.safetensors", "tokenizer.json", "preprocessor_config.json"} <= names
    assert "code/inference.py" in names


@pytest.mark.shared
def test_convert_to_ctranslate2_and_transcribe(
    hf_model_dir: Path, code_dir: Path, tmp_path: Path, data_clips: dict
) -> None:
    """By default a transformers checkpoint is converted; faster-whisper loads it and decodes speech."""
    from faster_whisper import WhisperModel

    out = tmp_path / "model.tar.gz"
    result = package(hf_model_dir, out, code_dir=code_dir, wheels=None)  # no engine given: CTranslate2
    assert result.engine == "ctranslate2" and result.converted
    names = set(result.members)
    assert {"model.bin", "config.json", "tokenizer.json", "preprocessor_config.json"} <= names
    assert "code/inference.py" in names
    unpacked = tmp_path / "opt-ml-model"
    with tarfile.open(out, "r:gz") as tar:
        tar.extractall(unpacked, filter="data")
    assert model_format(unpacked) == "ctranslate2"
    model = WhisperModel(str(unpacked), device="cpu", compute_type="int8", cpu_threads=2)
    segments, info = model.transcribe(str(data_clips["jfk.mp3"].path), language="en", beam_size=1)
    text = " ".join(s.text for s in segments).lower()
    assert "country" in text and "ask not" in text
    assert info.duration == pytest.approx(data_clips["jfk.mp3"].duration_s, abs=0.5)


def test_ct2_model_cannot_be_packaged_as_transformers(
    ct2_model_dir: Path, code_dir: Path, tmp_path: Path
) -> None:
    with pytest.raises(PackageError, match="ENGINE=ctranslate2"):
        package(ct2_model_dir, tmp_path / "m.tar.gz", engine="transformers", code_dir=code_dir, wheels=None)
    assert not (tmp_path / "m.tar.gz").exists()


def test_bad_inputs_name_the_problem(code_dir: Path, tmp_path: Path) -> None:
    not_a_model = tmp_path / "notes"
    not_a_model.mkdir()
    (not_a_model / "readme.txt").write_text("hello")
    with pytest.raises(PackageError, match=r"holds no Whisper model.*readme\.txt"):
        package(not_a_model, tmp_path / "m.tar.gz", code_dir=code_dir, wheels=None)
    (not_a_model / "config.json").write_text('{"model_type": "bert"}')
    (not_a_model / "model.safetensors").write_bytes(b"\0")
    with pytest.raises(PackageError, match="holds a 'bert' model, not Whisper"):
        package(not_a_model, tmp_path / "m.tar.gz", code_dir=code_dir, wheels=None)
    with pytest.raises(PackageError, match="does not exist"):
        package(tmp_path / "missing", tmp_path / "m.tar.gz", code_dir=code_dir, wheels=None)
    with pytest.raises(PackageError, match="unknown engine 'onnx'"):
        package(not_a_model, tmp_path / "m.tar.gz", engine="onnx", code_dir=code_dir, wheels=None)
    with pytest.raises(PackageError, match=r"inference\.py not found"):
        package(None, tmp_path / "m.tar.gz", code_dir=tmp_path, wheels=None)
    shadow = tmp_path / "shadow"
    (shadow / "code").mkdir(parents=True)
    for name in ("model.bin", "config.json", "tokenizer.json"):
        (shadow / name).write_bytes(b"{}")
    (shadow / "code" / "inference.py").write_text("")
    with pytest.raises(PackageError, match="already has a code/ folder"):
        package(shadow, tmp_path / "m.tar.gz", engine="ctranslate2", code_dir=code_dir, wheels=None)


def test_cli_reports_errors_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["--model", str(tmp_path / "missing"), "--out", str(tmp_path / "m.tar.gz")])
    assert rc == 2
    assert "error: model directory" in capsys.readouterr().err
