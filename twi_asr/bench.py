"""``python -m twi_asr.bench``: the benchmark's former name, kept so that commands written
against it (the issues quote it) still run. The benchmark lives in the repository's top-level
``bench/`` package (``make bench``, ``python -m bench``), which is not installed: run this
from the repository root."""

from __future__ import annotations

import importlib
import sys


def main(argv: list[str] | None = None) -> int:
    try:
        run = importlib.import_module("bench.run")
    except ModuleNotFoundError as err:
        if err.name not in ("bench", "bench.run"):
            raise  # the bench is there, something it needs is not
        print(
            "twi_asr.bench: the benchmark is the repository's bench/ package; "
            "run `make bench` or `python -m bench` from the repository root",
            file=sys.stderr,
        )
        return 2
    return int(run.main(argv))


if __name__ == "__main__":
    sys.exit(main())
