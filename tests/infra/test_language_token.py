"""``make package ... LANGUAGE_TOKEN=yo``: the declaration lands beside the weights, in the archive."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
from twi_contract import LANGUAGE_DECLARATION_FILE
from twi_infra.package import main


@pytest.fixture
def model(tmp_path: Path) -> Path:
    """Stand-ins for a CTranslate2 model's files: packaging copies them, never reads them."""
    folder = tmp_path / "twi-model"
    folder.mkdir()
    for name in ("model.bin", "config.json", "tokenizer.json"):
        (folder / name).write_text("{}")
    return folder


def test_language_token_is_declared_in_the_archive(model: Path, tmp_path: Path) -> None:
    out = tmp_path / "model.tar.gz"
    assert main(["--model", str(model), "--language-token", "YO", "--no-wheels", "--out", str(out)]) == 0
    with tarfile.open(out, "r:gz") as tar:
        member = tar.extractfile(LANGUAGE_DECLARATION_FILE)
        assert member is not None
        assert json.loads(member.read()) == {"token": "yo", "aliases": []}
    assert main(["--model", str(model), "--language-token", "none", "--no-wheels", "--out", str(out)]) == 0
    assert json.loads((model / LANGUAGE_DECLARATION_FILE).read_text())["token"] == "none"


def test_a_bad_language_token_is_a_usage_error(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--model", str(model), "--language-token", "twi language", "--out", str(tmp_path / "m.tar.gz")])
    assert info.value.code == 2
    assert "--language-token: invalid language_token value: 'twi language'" in capsys.readouterr().err
    assert not (model / LANGUAGE_DECLARATION_FILE).exists()
