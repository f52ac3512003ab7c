"""`make demo`: the whole S3 -> SQS -> Lambda -> SageMaker async -> SNS -> SQS -> Lambda -> S3
flow, offline, on this machine, with the code that ships.

Starts the local stack (moto + local SageMaker runtime + Lambda pollers) with the offline
default model (or ``--model DIR``), uploads the shipped public-domain clip twice (once under a
Twi file name with ɔ, ɛ and a space, to show such keys survive S3 event encoding), waits for
``transcripts/<path>.json``, prints it, and scores it against the clip's reference (WER).
Exit status 0 only when every transcript arrived in time. Nothing here needs ../shared.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from twi_contract import MetadataKeys, ResultKeys
from twi_infra.paths import PROJECT_ROOT
from twi_lambdas import names

from twi_asr.local.config import LocalConfig
from twi_asr.local.stack import LocalStack
from twi_asr.scoring import word_error_rate

DATA_DIR = PROJECT_ROOT / "tests" / "data"
CLIP = "jfk.mp3"  # public domain (US Government work), see tests/data/manifest.tsv
UPLOADS = (f"{names.AUDIO_PREFIX}demo/{CLIP}", f"{names.AUDIO_PREFIX}demo/Ɔkɔmfo ɛnnɛ.mp3")
DEFAULT_WORKDIR = PROJECT_ROOT / ".demo" / "demo"
DEFAULT_TIMEOUT_S = 300.0  # model load excluded; a 11 s clip takes seconds on 2 CPU cores
SPINNER = "|/-\\"


@dataclass(frozen=True)
class Reference:
    text: str
    duration_s: float


def reference_for(clip: str, data_dir: Path = DATA_DIR) -> Reference:
    """The clip's reference transcript from ``tests/data/manifest.tsv``."""
    with open(data_dir / "manifest.tsv", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["file"] == clip:
                return Reference(row["reference"], float(row["duration_s"]))
    raise KeyError(f"{clip} is not listed in {data_dir / 'manifest.tsv'}")


class Progress:
    """One status line on stderr: a spinner on a terminal, a line every few seconds otherwise."""

    def __init__(self, stack: LocalStack) -> None:
        self._stack = stack
        self._tty = sys.stderr.isatty()
        self._tick = 0
        self._last_line = 0.0

    def __call__(self, waited: float) -> None:
        self._tick += 1
        line = f"{SPINNER[self._tick % len(SPINNER)]} {waited:5.1f} s  {self._stage()}"
        if self._tty:
            print(f"\r{line:<78}", end="", file=sys.stderr, flush=True)
        elif waited - self._last_line >= 5.0:
            self._last_line = waited
            print(line, file=sys.stderr, flush=True)

    def done(self) -> None:
        if self._tty:
            print("\r" + " " * 78 + "\r", end="", file=sys.stderr, flush=True)

    def _stage(self) -> str:
        assert self._stack.endpoint is not None
        stats = self._stack.endpoint.snapshot()
        depths = self._stack.queue_depths()
        submit = depths[self._stack.config.queue_name(names.SUBMIT_QUEUE)]
        result = depths[self._stack.config.queue_name(names.RESULT_QUEUE)]
        return (
            f"submit queue {submit} | endpoint: {stats.queued} queued, {stats.running} running, "
            f"{stats.completed} done | result queue {result}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m twi_asr.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="Whisper model directory (default: offline Whisper base)")
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds to wait for results"
    )
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="state and Lambda logs")
    args = parser.parse_args(argv)

    clip = DATA_DIR / CLIP
    reference = reference_for(CLIP)
    if args.model is not None and not args.model.is_dir():
        print(f"demo: model directory not found: {args.model}", file=sys.stderr)
        return 2
    if args.model is None:
        from twi_asr.default_model import default_model_dir

        args.model = default_model_dir()  # prints provenance and licence the first time

    print(f"demo: starting the local stack with {args.model} ...", file=sys.stderr, flush=True)
    started = time.monotonic()
    with LocalStack(model_dir=args.model, workdir=args.workdir, config=LocalConfig()) as stack:
        assert stack.state is not None and stack.container is not None
        print(
            f"demo: up in {time.monotonic() - started:.1f} s: moto {stack.state.aws_endpoint_url}, "
            f"SageMaker runtime {stack.state.sagemaker_runtime_url}, bucket {stack.bucket}; "
            f"model {stack.container.description}",
            file=sys.stderr,
            flush=True,
        )
        for key in UPLOADS:
            stack.upload(clip, key)
            print(f"demo: uploaded {clip.name} -> s3://{stack.bucket}/{key}", file=sys.stderr, flush=True)

        progress = Progress(stack)
        outcomes: list[tuple[str, str, dict[str, object]]] = []
        deadline = time.monotonic() + args.timeout
        try:
            for key in UPLOADS:
                result_key, document = stack.wait_for_result(
                    key, max(1.0, deadline - time.monotonic()), on_wait=progress
                )
                outcomes.append((key, result_key, document))
        except TimeoutError as exc:
            progress.done()
            print(f"demo: FAILED: {exc}; Lambda logs in {args.workdir / 'logs'}", file=sys.stderr)
            return 1
        progress.done()
        elapsed = time.monotonic() - started

    return _report(outcomes, reference, elapsed, stack.bucket)


def _report(
    outcomes: list[tuple[str, str, dict[str, object]]], reference: Reference, elapsed: float, bucket: str
) -> int:
    ok = True
    for index, (key, result_key, document) in enumerate(outcomes):
        print(f"\n=== s3://{bucket}/{result_key}  (from {key})")
        if result_key.startswith(names.FAILED_PREFIX):
            ok = False
            print(json.dumps(document, ensure_ascii=False, indent=2))
            continue
        if index == 0:
            print(json.dumps(document, ensure_ascii=False, indent=2))
        else:  # the same audio again: show that the odd key made it through intact
            source = document.get("source", {})
            print(f"source key: {source.get('key') if isinstance(source, dict) else source}")
            print(f"transcript: {document.get(ResultKeys.TRANSCRIPT)}")
        transcript = str(document.get(ResultKeys.TRANSCRIPT, ""))
        metadata = document.get(ResultKeys.METADATA, {})
        rtf = metadata.get(MetadataKeys.RTF) if isinstance(metadata, dict) else None
        wer = word_error_rate(reference.text, transcript).wer
        print(f"reference:  {reference.text}")
        speed = f"{rtf:.3f} ({1 / rtf:.1f}x real time)" if isinstance(rtf, float) and rtf > 0 else rtf
        print(f"WER {wer:.1%}, metadata.rtf {speed}")
    print(
        f"\ndemo: {'done' if ok else 'FAILED'} in {elapsed:.1f} s (stack start to last result)",
        file=sys.stderr,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
