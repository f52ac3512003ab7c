"""The Python packages the endpoint installs at start, carried inside ``model.tar.gz``.

The Hugging Face inference toolkit runs ``pip install -r code/requirements.txt`` each time a
container starts. Against a package index, every cold start (every scale-out from zero) needs
the internet, and fails when the index is slow or down; an endpoint with network isolation
or in a VPC without NAT cannot start at all. So packaging downloads the wheels once, for the
DLC's interpreter and platform, into ``code/wheels/``, and writes a ``code/requirements.txt``
that reads only them (``--no-index --find-links wheels``: pip resolves a relative link
against the requirements file's folder).

The set is resolved together with the constraints of the DLC's transformers (its tokenizers
and huggingface-hub ranges), so installing it never replaces a package the DLC's own
transformers needs. Downloads are cached by the requirements, constraints and target.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from twi_infra.paths import cache_dir

WHEELS_DIRNAME: Final = "wheels"  # code/wheels/ in the archive
DLC_PYTHON_VERSION: Final = "3.12"  # the SageMaker HF PyTorch DLC's interpreter (py312)
DLC_GLIBC_MINOR: Final = 35  # Ubuntu 22.04 in the DLC: glibc 2.35 runs manylinux_2_17 .. 2_35
OFFLINE_HEADER: Final = (
    "# Written by twi_infra.package: installed from the wheels in code/wheels/, never from an\n"
    "# index, so a cold start needs no network.\n"
    "--no-index\n"
    f"--find-links {WHEELS_DIRNAME}\n"
)


class WheelError(RuntimeError):
    """The wheels could not be downloaded; the message holds pip's own reason."""


@dataclass(frozen=True)
class WheelTarget:
    """The interpreter and platform the wheels are for."""

    python_version: str = DLC_PYTHON_VERSION
    machine: str = "x86_64"
    glibc_minor: int = DLC_GLIBC_MINOR

    @classmethod
    def this_interpreter(cls) -> WheelTarget:
        """This machine's Python: what a test can really install into a fresh virtualenv."""
        glibc = platform.libc_ver()[1] or "2.17"
        return cls(
            f"{sys.version_info.major}.{sys.version_info.minor}", platform.machine(), int(glibc.split(".")[1])
        )

    def pip_options(self) -> list[str]:
        """``pip download``/``install`` options that select binary wheels for this target only.

        pip does not widen a ``--platform`` to older manylinux tags, so each glibc is named.
        """
        platforms = [f"manylinux_2_{minor}_{self.machine}" for minor in range(17, self.glibc_minor + 1)]
        options = ["--only-binary=:all:", "--implementation", "cp", "--python-version", self.python_version]
        for tag in [f"manylinux2014_{self.machine}", *platforms]:
            options += ["--platform", tag]
        return options


def dlc_constraints() -> list[str]:
    """What the DLC's transformers requires of the packages it depends on (unconditional ones).

    Read from the installed transformers, which ``pyproject.toml`` pins to the DLC's version.
    """
    return sorted(r for r in importlib.metadata.requires("transformers") or [] if ";" not in r)


def cache_folder(requirements: Path, target: WheelTarget, cache: Path | None = None) -> Path:
    """Where :func:`download` keeps the wheels of ``requirements`` for ``target``: named by
    the requirements, the DLC's constraints and the target."""
    key = hashlib.sha256(f"{requirements.read_text()}\0{_constraints()}\0{target}".encode()).hexdigest()[:16]
    return (cache or cache_dir()) / "wheels" / f"cp{target.python_version.replace('.', '')}-{key}"


@functools.cache
def _constraints() -> str:
    """:func:`dlc_constraints` as a pip constraints file, read once per process: the
    installed transformers does not change while it runs, and both :func:`cache_folder`
    and :func:`download` need it."""
    return "\n".join(dlc_constraints()) + "\n"


def download(requirements: Path, target: WheelTarget, cache: Path | None = None) -> Path:
    """The folder of wheels that install ``requirements`` on ``target``, downloaded once."""
    dest = cache_folder(requirements, target, cache)
    if dest.is_dir():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".download-") as tmp:
        constraints_file = Path(tmp) / "constraints.txt"
        constraints_file.write_text(_constraints())
        wheels = Path(tmp) / "wheels"
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(wheels)]
        command += ["-r", str(requirements), "-c", str(constraints_file), *target.pip_options()]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise WheelError(
                f"pip download for Python {target.python_version} failed:\n{done.stderr.strip()}"
            )
        try:
            os.replace(wheels, dest)  # complete or absent: an interrupted download is not reused
        except OSError:
            # Another process (a second test worker, a second `make package`) finished the
            # same download first: its folder is complete, and is the one to use. Seen as
            # "[Errno 39] Directory not empty" on a fresh clone's `make test`.
            if not dest.is_dir():
                raise
    return dest


def stage_offline_code(code_dir: Path, wheels: Path, out_dir: Path, ignore: tuple[str, ...]) -> Path:
    """``out_dir``: a copy of ``code_dir`` whose requirements install from ``wheels`` alone."""
    shutil.copytree(code_dir, out_dir, ignore=shutil.ignore_patterns(*ignore))
    requirements = out_dir / "requirements.txt"
    requirements.write_text(OFFLINE_HEADER + requirements.read_text(encoding="utf-8"), encoding="utf-8")
    (out_dir / WHEELS_DIRNAME).symlink_to(wheels.resolve(), target_is_directory=True)
    return out_dir
