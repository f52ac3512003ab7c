"""``twi-asr``: one entry point, one module per command.

Each module in :data:`COMMAND_MODULES` exposes ``register(subparsers)``, which adds its
sub-parser(s) and sets ``func`` (``args -> exit status``) as the default.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMAND_MODULES: tuple[str, ...] = (
    "twi_asr.commands.transcribe",
    "twi_asr.commands.local",
    "twi_asr.commands.client",
    "twi_asr.commands.eval",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="twi-asr", description="Twi (Akan) speech recognition on Whisper.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
