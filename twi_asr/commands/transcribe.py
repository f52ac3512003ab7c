"""``twi-asr transcribe FILE...``: run the endpoint's handler on local files, in-process.

The same ``inference/inference.py`` as the SageMaker endpoint, so what you see here is
what the endpoint returns. Prints one JSON object per file (``--format json``), the
transcript (``text``) or subtitles (``srt``, ``vtt``: the pipeline's own cues, from
``twi_lambdas.subtitles``, timed from the words with ``--words``); ``--out DIR`` writes
one file per input there instead (:func:`out_names`). A file that fails prints its error to stderr and
the command exits 1 after trying the others.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from twi_contract import GENERIC_CONTENT_TYPE, TASKS, ResultKeys, format_custom_attributes
from twi_lambdas import subtitles
from twi_lambdas.keys import content_type_for_key

from twi_asr.commands import warn_uncovered

FORMATS = ("json", "text", "srt", "vtt")
SUFFIXES = {"json": ".json", "text": ".txt", "srt": ".srt", "vtt": ".vtt"}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("transcribe", help="transcribe local audio files with the endpoint's handler")
    p.add_argument(
        "files", nargs="+", type=Path, metavar="FILE", help="audio files (any format ffmpeg reads)"
    )
    p.add_argument("--model", type=Path, help="model directory (default: the offline Whisper base)")
    p.add_argument("--language", help="language (e.g. tw, en); 'auto' = detect")
    p.add_argument("--task", choices=TASKS, help="default: TWI_ASR_TASK or transcribe")
    p.add_argument(
        "--words",
        action="store_true",
        help="each segment's words with their times (words=true); subtitles then follow the words",
    )
    p.add_argument("--format", choices=FORMATS, default="json")
    p.add_argument(
        "--out",
        type=Path,
        help="write <file stem>.<format> into this folder instead of printing (<file name>.<format> "
        "where two files share a stem)",
    )
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
    names = out_names(args.files, SUFFIXES[args.format])
    for path in args.files:
        try:
            result = _transcribe_file(model, path, args.language, args.task, args.words)
        except Exception as exc:  # one bad file must not stop the others
            print(f"twi-asr: {path}: {exc}", file=sys.stderr)
            failures += 1
            continue
        warn_uncovered(str(path), result)
        rendered = render(result, args.format)
        if args.out is None:
            print(rendered, end="" if rendered.endswith("\n") else "\n")
        else:
            target = args.out / names[path]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(rendered, encoding="utf-8")
            print(target, file=sys.stderr)
    return 1 if failures else 0


def out_names(paths: list[Path], suffix: str) -> dict[Path, str]:
    """The file each input's result is written to: ``<stem><suffix>`` (``interview.srt``
    beside ``interview.m4a``, where players look for it), or ``<name><suffix>`` for inputs
    that share a stem (``call.wav.srt`` and ``call.mp3.srt``), so that none overwrites
    another."""
    stems = Counter(path.stem for path in paths)
    return {path: (path.stem if stems[path.stem] == 1 else path.name) + suffix for path in paths}


def render(result: dict[str, Any], fmt: str) -> str:
    """One result as ``fmt``: the endpoint's JSON, its transcript, or SubRip/WebVTT cues."""
    if fmt == "json":
        return json.dumps(result, ensure_ascii=False, indent=2) + "\n"
    if fmt == "text":
        return str(result[ResultKeys.TRANSCRIPT]) + "\n"
    segments = result.get(ResultKeys.SEGMENTS, [])
    return subtitles.to_srt(segments) if fmt == "srt" else subtitles.to_vtt(segments)


def _transcribe_file(
    model: Any, path: Path, language: str | None, task: str | None, words: bool
) -> dict[str, Any]:
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise OSError(f"cannot read the file ({exc.strerror})") from None
    content_type = content_type_for_key(path.name) or GENERIC_CONTENT_TYPE
    custom = format_custom_attributes(language, task, path.name, words=words)
    return dict(json.loads(model.invoke(body, content_type, custom)))
