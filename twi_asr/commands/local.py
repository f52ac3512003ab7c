"""`twi-asr local up|put|results|status`: the offline stack from a terminal.

``local up`` runs the stack in the foreground (Ctrl-C stops it) and writes its coordinates to
``<workdir>/local-stack.json``; ``local put`` / ``results`` / ``status`` in another terminal
read that file. The other commands (``twi-asr submit --local`` ...) work against it too.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from twi_contract import MetadataKeys, ResultKeys
from twi_lambdas import names

from twi_asr.local.config import LocalConfig, default_workdir
from twi_asr.local.state import NoLocalStackError, StackState

WATCH_INTERVAL_S = 1.0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    local = subparsers.add_parser(
        "local", help="the offline local stack: S3 -> Lambda -> endpoint -> S3 on 127.0.0.1"
    )
    commands = local.add_subparsers(dest="local_command", required=True)

    up = commands.add_parser("up", help="start the local stack in the foreground (Ctrl-C stops it)")
    up.add_argument("--model", type=Path, help="Whisper model directory (default: offline Whisper base)")
    up.add_argument("--language", help="endpoint language (e.g. tw, en); default: detect")
    up.add_argument("--task", choices=("transcribe", "translate"))
    up.add_argument("--concurrency", type=int, default=1, help="max concurrent invocations (model workers)")
    _add_workdir(up)
    up.set_defaults(func=_cmd_up)

    put = commands.add_parser("put", help="upload audio files under audio/ of the running local stack")
    put.add_argument("files", nargs="+", type=Path)
    put.add_argument("--prefix", default="", help="folder below audio/ (e.g. calls/2026/)")
    put.add_argument("--language", help="x-amz-meta-language for these uploads")
    put.add_argument("--task", choices=("transcribe", "translate"))
    put.add_argument("--wait", action="store_true", help="wait for each result and print it")
    put.add_argument("--timeout", type=float, default=600.0, help="seconds to wait per file")
    _add_workdir(put)
    put.set_defaults(func=_cmd_put)

    results = commands.add_parser("results", help="list transcripts and failures in the local bucket")
    results.add_argument("prefix", nargs="?", default="", help="path below transcripts/ and failed/")
    results.add_argument("--json", action="store_true", help="print the full documents")
    _add_workdir(results)
    results.set_defaults(func=_cmd_results)

    status = commands.add_parser("status", help="where the running stack listens; messages in each queue")
    _add_workdir(status)
    status.set_defaults(func=_cmd_status)


def _add_workdir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workdir", type=Path, default=None, help=f"state and logs (default: {default_workdir()})"
    )


def _cmd_up(args: argparse.Namespace) -> int:
    from twi_asr.local.stack import LocalStack

    if args.model is not None and not args.model.is_dir():
        print(f"twi-asr: model directory not found: {args.model}", file=sys.stderr)
        return 2
    config = LocalConfig(language=args.language, task=args.task, max_concurrent_invocations=args.concurrency)
    workdir = args.workdir or default_workdir()
    for signum in (signal.SIGINT, signal.SIGTERM):  # SIGINT too: a background job may ignore it
        signal.signal(signum, _raise_keyboard_interrupt)
    print("starting the local stack (loading the model)...", file=sys.stderr, flush=True)
    with LocalStack(model_dir=args.model, workdir=workdir, config=config) as stack:
        assert stack.state is not None
        _print_banner(stack.state, workdir)
        try:
            _watch_results(stack.s3, stack.bucket)
        except KeyboardInterrupt:
            print("\nstopping...", file=sys.stderr, flush=True)
    print("local stack stopped", file=sys.stderr)
    return 0


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _print_banner(state: StackState, workdir: Path) -> None:
    lines = [
        "local stack running (Ctrl-C to stop):",
        f"  S3/SQS/SNS (moto)   AWS_ENDPOINT_URL={state.aws_endpoint_url}",
        f"  SageMaker Runtime   AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME={state.sagemaker_runtime_url}",
        f"  region {state.region}, bucket {state.bucket}, endpoint {state.endpoint_name}",
        f"  model {state.model_dir}",
        f"  Lambda logs in {workdir / 'logs'}",
        "in another terminal:",
        "  twi-asr local put recording.ogg --wait",
        "  twi-asr local results",
    ]
    print("\n".join(lines), file=sys.stderr, flush=True)


def _watch_results(s3: Any, bucket: str) -> None:
    """Print one line per transcript or failure as it lands, until interrupted."""
    seen: set[str] = set()
    while True:
        for key, document in _new_documents(s3, bucket, seen):
            print(_summary(key, document), flush=True)
        time.sleep(WATCH_INTERVAL_S)


def _new_documents(s3: Any, bucket: str, seen: set[str]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    paginator = s3.get_paginator("list_objects_v2")
    for prefix in (names.TRANSCRIPTS_PREFIX, names.FAILED_PREFIX):
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                tag = f"{obj['Key']}@{obj['ETag']}"
                if obj["Key"].endswith(".json") and tag not in seen:
                    seen.add(tag)
                    body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                    found.append((obj["Key"], json.loads(body)))
    return found


def _summary(key: str, document: dict[str, Any]) -> str:
    if key.startswith(names.FAILED_PREFIX):
        return f"FAILED  {key}: {document.get('reason', '')}"
    metadata = document.get(ResultKeys.METADATA, {})
    rtf = metadata.get(MetadataKeys.RTF)
    seconds = metadata.get(MetadataKeys.AUDIO_DURATION_SEC, 0)
    timing = f" (rtf {rtf:.3f}, {seconds:.1f} s audio)" if rtf is not None else ""
    return f"DONE    {key}{timing}: {document.get(ResultKeys.TRANSCRIPT, '')}"


def _read_state(args: argparse.Namespace) -> StackState | None:
    try:
        return StackState.read(args.workdir or default_workdir())
    except NoLocalStackError as exc:
        print(f"twi-asr: {exc}", file=sys.stderr)
        return None


def _cmd_put(args: argparse.Namespace) -> int:
    from twi_asr.client import StackRef, TwiAsrClient

    missing = [str(p) for p in args.files if not p.is_file()]
    if missing:
        print(f"twi-asr: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    state = _read_state(args)
    if state is None:
        return 2
    client = TwiAsrClient(StackRef(state.bucket, state.endpoint_name, state.region), session=state.session())
    prefix = args.prefix.strip("/") + "/" if args.prefix.strip("/") else ""
    started = time.time()
    keys = []
    for path in args.files:
        key = client.upload(path, f"{names.AUDIO_PREFIX}{prefix}{path.name}", args.language, args.task)
        print(f"uploaded s3://{state.bucket}/{key}", file=sys.stderr, flush=True)
        keys.append(key)
    if not args.wait:
        return 0
    failures = 0
    for key in keys:
        result = client.wait_for_result(key, args.timeout, not_before=started - 1)
        failures += result.failed
        print(_summary(result.location.split("/", 3)[3], result.document), flush=True)
    return 1 if failures else 0


def _cmd_results(args: argparse.Namespace) -> int:
    state = _read_state(args)
    if state is None:
        return 2
    s3 = state.session().client("s3")
    documents = _new_documents(s3, state.bucket, set())
    shown = [(k, d) for k, d in documents if k.split("/", 1)[1].startswith(args.prefix)]
    for key, document in shown:
        if args.json:
            print(json.dumps({"key": key, **document}, ensure_ascii=False, indent=2))
        else:
            print(_summary(key, document))
    if not shown:
        print("no results yet", file=sys.stderr)
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    state = _read_state(args)
    if state is None:
        return 2
    sqs = state.session().client("sqs")
    print(f"pid {state.pid}, bucket {state.bucket}, endpoint {state.endpoint_name}")
    print(f"AWS_ENDPOINT_URL={state.aws_endpoint_url}")
    print(f"AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME={state.sagemaker_runtime_url}")
    for name, url in state.queues.items():
        attributes = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        print(
            f"{name:28} {attributes['ApproximateNumberOfMessages']:>4} waiting "
            f"{attributes['ApproximateNumberOfMessagesNotVisible']:>4} in flight"
        )
    return 0
