"""``twi-asr eval MANIFEST [--model [NAME=]DIR]...``: WER/CER of checkpoints through the endpoint's handler.

Every clip of the manifest goes through ``inference/inference.py`` in this process (as
``twi-asr transcribe`` does), so the transcripts, RTF and language are the endpoint's. Prints a
summary (models side by side), a per-clip table sorted by error and the worst clips word by
word; writes ``summary.csv``, ``clips.csv`` and ``eval.json`` to ``--out``.

``--probe-language`` instead decodes a sample once per candidate language token and
recommends the one with the lowest CER (``probe.json``).

Exit status: 0 done, 1 some clip failed in the handler, 2 bad arguments, manifest or model.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

DEFAULT_OUT = Path("eval-results")
DEFAULT_WORST = 3
DEFAULT_PROBE_SAMPLE = 5
_ERRORS_SHOWN = 3  # distinct handler errors repeated on stderr


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "eval",
        help="WER/CER of one or more models on a manifest, through the endpoint's handler",
        description=(__doc__ or "").split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "manifest", type=Path, help="manifest.tsv (file, duration_s, reference, ...) or its folder"
    )
    p.add_argument(
        "--model",
        dest="models",
        action="append",
        default=[],
        metavar="[NAME=]DIR",
        help="model folder (transformers or CTranslate2); repeat to compare (default: offline Whisper base)",
    )
    p.add_argument(
        "--language", help="language=<code> sent with every request (default: none, the endpoint decides)"
    )
    p.add_argument("--fold-informal", action="store_true", help="score 3 as ɛ and c as ɔ")
    p.add_argument("--fold-tones", action="store_true", help="ignore tone marks (á = a, ɛ́ = ɛ)")
    p.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"folder for the CSV/JSON files (default: {DEFAULT_OUT})",
    )
    p.add_argument(
        "--worst",
        type=int,
        default=DEFAULT_WORST,
        help=f"worst clips to print in full (default {DEFAULT_WORST})",
    )
    p.add_argument("--limit", type=int, help="only the first N clips of the manifest")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    probe = p.add_argument_group("language probe")
    probe.add_argument(
        "--probe-language",
        action="store_true",
        help="try each candidate language token on a sample and recommend the lowest CER",
    )
    probe.add_argument(
        "--candidates",
        help="comma-separated tokens to try after none and the declared one (default: yo,en,ha,sw,ln)",
    )
    probe.add_argument(
        "--sample",
        type=int,
        default=DEFAULT_PROBE_SAMPLE,
        help=f"clips the probe decodes per token (default {DEFAULT_PROBE_SAMPLE})",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from twi_asr.evaluation.manifest import ManifestError, manifest_path, read_manifest
    from twi_asr.evaluation.runner import parse_model_specs
    from twi_asr.text_normalise import TwiNormaliser

    try:
        clips = read_manifest(args.manifest)
    except ManifestError as exc:
        print(f"twi-asr eval: {exc}", file=sys.stderr)
        return 2
    if args.limit is not None:
        clips = clips[: max(args.limit, 1)]
    if not args.models:
        from twi_asr.default_model import default_model_dir

        args.models = [str(default_model_dir())]
    specs = parse_model_specs(args.models)
    for spec in specs:
        if not spec.path.is_dir():
            print(f"twi-asr eval: no model directory at {spec.path}", file=sys.stderr)
            return 2
    normaliser = TwiNormaliser(fold_informal=args.fold_informal, fold_tones=args.fold_tones)
    settings: dict[str, Any] = {
        "manifest": str(manifest_path(args.manifest)),
        "normaliser": normaliser.as_dict(),
        "request_language": args.language,
    }
    width = min(shutil.get_terminal_size((100, 24)).columns, 140)
    if args.probe_language:
        return _probe(args, specs, clips, normaliser, settings)
    return _evaluate(args, specs, clips, normaliser, settings, width)


def _evaluate(
    args: argparse.Namespace,
    specs: list[Any],
    clips: list[Any],
    normaliser: Any,
    settings: dict[str, Any],
    width: int,
) -> int:
    from twi_asr.evaluation.report import print_report, write_files
    from twi_asr.evaluation.runner import evaluate_model

    runs = []
    for spec in specs:
        try:
            runs.append(evaluate_model(spec, clips, normaliser, args.language, not args.no_progress))
        except Exception as exc:
            print(f"twi-asr eval: cannot load model {str(spec.path)!r}: {exc}", file=sys.stderr)
            return 2
    print_report(runs, args.worst, normaliser.describe(), settings["manifest"], width)
    written = write_files(runs, args.out, settings)
    print()
    print("written: " + ", ".join(str(p) for p in written))
    failed = sum(r.failures for r in runs)
    if failed:
        errors = sorted({c.error for r in runs for c in r.clips if c.error})
        print(f"twi-asr eval: {failed} clip(s) failed in the handler, scored as no words:", file=sys.stderr)
        for error in errors[:_ERRORS_SHOWN]:
            print(f"  {error}", file=sys.stderr)
    return 1 if failed else 0


def _probe(
    args: argparse.Namespace,
    specs: list[Any],
    clips: list[Any],
    normaliser: Any,
    settings: dict[str, Any],
) -> int:
    from twi_asr.evaluation.report import probe_lines, write_probe
    from twi_asr.evaluation.runner import candidate_tokens, probe_language

    sample = clips[: max(args.sample, 1)]
    extra = args.candidates.split(",") if args.candidates else None
    probes = []
    for spec in specs:
        tokens = candidate_tokens(spec.path, extra)
        try:
            probe = probe_language(spec, sample, normaliser, tokens, not args.no_progress)
        except Exception as exc:
            print(f"twi-asr eval: cannot load model {str(spec.path)!r}: {exc}", file=sys.stderr)
            return 2
        probes.append(probe)
        print("\n".join(probe_lines(probe)))
        print()
    print(f"written: {write_probe(probes, args.out, settings)}")
    return 0
