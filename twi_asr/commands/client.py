"""`twi-asr submit`, `twi-asr invoke`, `twi-asr results`: the user's side of a running stack.

Which stack: ``--bucket``/``--endpoint`` flags, or ``--stack NAME`` (the deployed CDK stack's
outputs), or ``--local`` (the offline local stack started by ``twi-asr local up``). AWS
credentials and endpoint URLs come from the usual boto3 environment.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

from twi_contract import ResultKeys

from twi_asr.client import ClientFailure, Result, StackRef, TwiAsrClient
from twi_asr.commands import warn_uncovered

ENV_BUCKET = "TWI_ASR_BUCKET"
ENV_ENDPOINT = "TWI_ASR_ENDPOINT"
ENV_STACK = "TWI_ASR_STACK"
FORMATS = ("json", "text", "srt", "vtt")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    submit = subparsers.add_parser("submit", help="upload audio to the stack's bucket (and wait for results)")
    _add_stack_args(submit)
    submit.add_argument("files", nargs="+", type=Path, help="audio files")
    submit.add_argument("--wait", action="store_true", help="wait for the transcripts and print them")
    submit.add_argument("--language", help="language code passed to the endpoint (e.g. tw, en)")
    submit.add_argument("--task", choices=("transcribe", "translate"))
    submit.add_argument(
        "--words", action="store_true", help="word times in the results; subtitles timed by them"
    )
    submit.add_argument("--format", choices=("json", "text"), default="json")
    submit.add_argument("--timeout", type=float, default=900.0, help="seconds to wait per file")
    submit.set_defaults(func=_cmd_submit)

    invoke = subparsers.add_parser("invoke", help="call the endpoint directly (invoke_endpoint_async)")
    _add_stack_args(invoke)
    invoke.add_argument("file", type=Path)
    invoke.add_argument("--language")
    invoke.add_argument("--task", choices=("transcribe", "translate"))
    invoke.add_argument("--words", action="store_true", help="each segment's words with their times")
    invoke.add_argument("--timeout", type=float, default=900.0)
    invoke.set_defaults(func=_cmd_invoke)

    results = subparsers.add_parser("results", help="list and download transcripts and failures")
    _add_stack_args(results)
    results.add_argument("prefix", nargs="?", default="", help="path below transcripts/ (e.g. calls/2026/)")
    results.add_argument("--format", choices=FORMATS, default="json")
    results.add_argument("--out", type=Path, help="write files into this folder instead of printing")
    results.set_defaults(func=_cmd_results)


def _add_stack_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("which stack")
    group.add_argument("--bucket", default=os.environ.get(ENV_BUCKET), help=f"bucket name (${ENV_BUCKET})")
    group.add_argument("--endpoint", default=os.environ.get(ENV_ENDPOINT), help=f"endpoint (${ENV_ENDPOINT})")
    group.add_argument("--stack", default=os.environ.get(ENV_STACK), help="read names from this CDK stack")
    group.add_argument("--region", default=None)
    group.add_argument("--local", action="store_true", help="use the running offline local stack")


def resolve_stack(args: argparse.Namespace) -> StackRef:
    """Flags beat the local stack's state, which beats the CloudFormation outputs."""
    if args.local:
        from twi_asr.local.state import activate_local_state

        local = activate_local_state()
        return StackRef(
            bucket=args.bucket or local.bucket,
            endpoint_name=args.endpoint or local.endpoint_name,
            region=local.region,
        )
    if args.bucket:
        return StackRef(args.bucket, args.endpoint, args.region)
    if args.stack:
        ref = StackRef.from_cloudformation(args.stack, args.region)
        return StackRef(ref.bucket, args.endpoint or ref.endpoint_name, args.region)
    raise SystemExit("twi-asr: which stack? pass --bucket, --stack NAME or --local")


def _print_result(result: Result, fmt: str) -> None:
    warn_uncovered(result.key, result.document)
    if fmt == "text":
        print(f"{result.key}: {'FAILED: ' + result.reason if result.failed else result.transcript}")
    else:
        print(json.dumps(result.document, ensure_ascii=False, indent=2))


def _cmd_submit(args: argparse.Namespace) -> int:
    missing = [str(p) for p in args.files if not p.is_file()]
    if missing:
        print(f"twi-asr: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    client = TwiAsrClient(resolve_stack(args))
    total = len(args.files)
    done = 0
    lock = threading.Lock()

    def progress(result: Result) -> None:
        nonlocal done
        with lock:
            done += 1
            state = "failed" if result.failed else ("done" if args.wait else "uploaded")
            print(f"[{done}/{total}] {state}: {result.key}", file=sys.stderr, flush=True)

    results = client.submit(
        list(args.files),
        wait=args.wait,
        language=args.language,
        task=args.task,
        timeout_s=args.timeout,
        on_done=progress,
        words=args.words,
    )
    if args.wait:
        for result in results:
            _print_result(result, args.format)
    return 1 if any(r.failed for r in results) else 0


def _cmd_invoke(args: argparse.Namespace) -> int:
    if not args.file.is_file():
        print(f"twi-asr: no such file: {args.file}", file=sys.stderr)
        return 2
    client = TwiAsrClient(resolve_stack(args))
    try:
        result = client.invoke(
            args.file,
            endpoint_name=args.endpoint,
            language=args.language,
            task=args.task,
            timeout_s=args.timeout,
            on_wait=lambda message: print(message, file=sys.stderr, flush=True),
            words=args.words,
        )
    except ClientFailure as exc:
        print(f"twi-asr: failed: {exc}", file=sys.stderr)
        return 1
    warn_uncovered(str(args.file), result)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


def _cmd_results(args: argparse.Namespace) -> int:
    client = TwiAsrClient(resolve_stack(args))
    suffix = {"json": ".json", "text": ".json", "srt": ".srt", "vtt": ".vtt"}[args.format]
    found = 0
    for key, failed in client.list_results(args.prefix):
        found += 1
        if failed or suffix == ".json":
            body = client.get_object(key)
            out_key = key
        else:
            out_key = key[: -len(".json")] + suffix
            body = client.get_object(out_key)
        if args.format == "text" and not failed:
            doc: dict[str, Any] = json.loads(body)
            body = (doc.get(ResultKeys.TRANSCRIPT, "") + "\n").encode("utf-8")
            out_key = key[: -len(".json")] + ".txt"
        _emit(out_key, body, args.out)
    if found == 0:
        print(f"twi-asr: no results under {args.prefix!r} yet", file=sys.stderr)
        return 1
    return 0


def _emit(key: str, body: bytes, out_dir: Path | None) -> None:
    if out_dir is None:
        sys.stdout.write(f"==> {key} <==\n{body.decode('utf-8', 'replace')}\n")
        return
    target = out_dir / key
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(body)
    print(target, file=sys.stderr)
