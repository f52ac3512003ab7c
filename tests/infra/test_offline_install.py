"""model.tar.gz starts with no network: the container installs its requirements from the
archive's own wheels, as the toolkit does (``pip install -r code/requirements.txt``)."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from twi_infra.package import package
from twi_infra.wheels import OFFLINE_HEADER, WheelTarget

IMPORTS = "import ctranslate2, faster_whisper, onnx, onnxruntime, soundfile, soxr"


def _offline_env() -> dict[str, str]:
    """No index, no find-links of this machine, no pip configuration: only the archive."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


def _unpack_code(archive: Path, into: Path) -> Path:
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(into, members=[m for m in tar if m.name.startswith("code/")], filter="data")
    return into / "code"


def test_requirements_install_in_a_fresh_virtualenv_with_no_index(tmp_path: Path) -> None:
    """Built for this machine's Python, so it can really be installed here; the DLC's set is
    checked by the next test."""
    archive = package(None, tmp_path / "model.tar.gz", wheels=WheelTarget.this_interpreter()).archive
    code = _unpack_code(archive, tmp_path / "opt-ml-model")
    assert (code / "requirements.txt").read_text().startswith(OFFLINE_HEADER)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    start = time.perf_counter()
    install = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-r", str(code / "requirements.txt")],
        cwd=tmp_path,  # not code/: the wheels are found relative to the requirements file
        env=_offline_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    assert install.returncode == 0, install.stderr
    imported = subprocess.run(
        [str(venv / "bin" / "python"), "-c", IMPORTS], capture_output=True, text=True, check=False
    )
    assert imported.returncode == 0, imported.stderr
    print(f"offline install of code/requirements.txt: {seconds:.1f} s")


def test_the_dlc_wheel_set_resolves_with_no_index(tmp_path: Path) -> None:
    """The archive ``make package`` builds (wheels for the DLC's Python 3.12): pip resolves
    every requirement from ``code/wheels`` alone for that interpreter and platform."""
    target = WheelTarget()
    archive = package(None, tmp_path / "model.tar.gz").archive
    code = _unpack_code(archive, tmp_path / "opt-ml-model")
    wheels = sorted(p.name for p in (code / "wheels").iterdir())
    assert any(w.startswith("faster_whisper-1.2.1-") for w in wheels)
    assert any(w.startswith("ctranslate2-") and "cp312" in w for w in wheels)
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed"]
    command += ["--target", str(tmp_path / "t"), "-r", str(code / "requirements.txt"), *target.pip_options()]
    resolved = subprocess.run(
        command,
        env=_offline_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert resolved.returncode == 0, resolved.stderr
    assert "Would install" in resolved.stdout and "faster-whisper-1.2.1" in resolved.stdout


def test_download_failure_names_pip_s_reason(tmp_path: Path) -> None:
    from twi_infra.package import PackageError

    code = tmp_path / "code"
    code.mkdir()
    (code / "inference.py").write_text("")
    (code / "requirements.txt").write_text("no-such-package-twi-asr==0.0.0\n")
    with pytest.raises(PackageError, match=r"pip download for Python 3\.12 failed"):
        package(None, tmp_path / "m.tar.gz", code_dir=code)


def test_a_download_another_process_finished_first_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two test workers (or two ``make package``) download the same wheel set at once: the
    one that finishes second finds the cache folder already there and uses it, instead of
    failing to move its own copy onto it (a fresh clone's ``make test`` failed so)."""
    from twi_infra import wheels

    requirements = tmp_path / "requirements.txt"
    requirements.write_text("soxr\n")
    target = WheelTarget.this_interpreter()
    cache = tmp_path / "cache"
    dest = wheels.cache_folder(requirements, target, cache)

    def pip_download(command: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        own = Path(command[command.index("--dest") + 1])
        own.mkdir()
        (own / "ours.whl").write_bytes(b"")
        dest.mkdir()  # meanwhile the other process moved its complete download into place
        (dest / "theirs.whl").write_bytes(b"")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(wheels.subprocess, "run", pip_download)
    assert wheels.download(requirements, target, cache) == dest
    assert [p.name for p in dest.iterdir()] == ["theirs.whl"]
    assert [p.name for p in dest.parent.iterdir()] == [dest.name]  # our partial copy removed

    def no_download(*_: object, **__: object) -> None:
        raise AssertionError("downloaded again")

    monkeypatch.setattr(wheels.subprocess, "run", no_download)
    assert wheels.download(requirements, target, cache) == dest  # and reused from then on
