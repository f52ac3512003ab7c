"""``twi-asr transcribe FILE...``: run the endpoint's handler on local files, in-process.

The same ``inference/inference.py`` as the SageMaker endpoint, so what you see here is
what the endpoint returns. Prints one JSON object per file (``--format json``) or the
transcript (``--format text``); a file that fails prints its error to stderr and the
command exits 1 after trying the others.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from twi_contract import GENERIC_CONTENT_TYPE, TASKS, ResultKeys, format_custom_attributes
from twi_lambdas.keys import content_type_for_key

FORMATS = ("json", "text")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("transcribe", help="transcribe local audio files with the endpoint's handler")
    p.add_argument(
        "files", nargs="+", type=Path, metavar="FILE", help="audio files (any format ffmpeg reads)"
    )
    p.add_argument("--model", type=Path, help="model directory (default: the offline Whisper base)")
    p.add_argument("--language", help="language (e.g. tw, en); 'auto' = detect")
    p.add_argument("--task", choices=TASKS, help="default: TWI_ASR_TASK or transcribe")
    p.add_argument("--format", choices=FORMATS, default="json")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from twi_asr.local_model import LocalModel

    if args.model is None:
        from twi_asr.default_model import default_model_dir

        args.model = default_model_dir()
    try:
        model = LocalModel(args.model)
    except Exception as exc:
        print(f"twi-asr: cannot load model {str(args.model)!r}: {exc}", file=sys.stderr)
        return 2
    failures = 0
    for path in args.files:
        try:
            result = _transcribe_file(model, path, args.language, args.task)
        except Exception as exc:  # one bad file must not stop the others
            print(f"twi-asr: {path}: {exc}", file=sys.stderr)
            failures += 1
            continue
        if args.format == "json":
            print(json.dumps(result, ensure_ascii=False, indent=2))
        else:
            print(result[ResultKeys.TRANSCRIPT])
    return 1 if failures else 0


def _transcribe_file(model: Any, path: Path, language: str | None, task: str | None) -> Any:
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise OSError(f"cannot read the file ({exc.strerror})") from None
    content_type = content_type_for_key(path.name) or GENERIC_CONTENT_TYPE
    custom = format_custom_attributes(language, task, path.name)
    return json.loads(model.invoke(body, content_type, custom))
