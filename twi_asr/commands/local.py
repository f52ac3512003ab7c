"""`twi-asr local up|put|results|status`: the offline stack from a terminal.

``local up`` runs the stack in the foreground and writes its coordinates to
``<workdir>/local-stack.json``; ``local put`` / ``results`` / ``status`` in another terminal
read that file. The other commands (``twi-asr submit --local`` ...) work against it too.

``local up`` keeps the bucket in ``<workdir>/bucket/``: Ctrl-C, SIGTERM, SIGKILL or a crash
loses no upload or result, and the next ``local up`` resubmits the uploads that have none
(``--fresh`` starts from an empty bucket instead). The client commands end with one line, not
a traceback, when the stack is not running or stops while they wait.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any

from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from twi_contract import MetadataKeys, ResultKeys
from twi_infra.runtime_values import Coalescing
from twi_lambdas import names
from twi_lambdas.settings import DEFAULT_RECONCILE_GRACE_SECONDS

from twi_asr.local.config import RESULT_POLL_S, LocalConfig, default_workdir
from twi_asr.local.state import NoLocalStackError, StackState

WATCH_INTERVAL_S = 1.0
STOPPING_GRACE_S = 5.0  # a stack stops answering a moment before its process exits
# SIGINT too: a background job may ignore it; SIGHUP: the terminal was closed
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    local = subparsers.add_parser(
        "local", help="the offline local stack: S3 -> Lambda -> endpoint -> S3 on 127.0.0.1"
    )
    commands = local.add_subparsers(dest="local_command", required=True)

    up = commands.add_parser(
        "up", help="start the local stack in the foreground (Ctrl-C stops it; its bucket is kept)"
    )
    up.add_argument("--model", type=Path, help="Whisper model directory (default: offline Whisper base)")
    up.add_argument("--language", help="endpoint language (e.g. tw, en); default: detect")
    up.add_argument("--task", choices=("transcribe", "translate"))
    up.add_argument(
        "--concurrency",
        type=int,
        help="max concurrent invocations, each its own model worker (default: the stack's, "
        "max_concurrent_invocations_per_instance)",
    )
    up.add_argument(
        "--coalesce-max-files",
        type=int,
        help="short uploads that arrive together go as one request of at most this many files "
        "(1: each its own request); default: the stack's",
    )
    up.add_argument("--fresh", action="store_true", help="forget the uploads and results an earlier run kept")
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

    reconcile = commands.add_parser(
        "reconcile",
        help="what the deployed stack's scheduled reconciler does: announce again each upload with "
        "no outcome (once), then record it as failed",
    )
    reconcile.add_argument(
        "--older-than",
        type=int,
        default=DEFAULT_RECONCILE_GRACE_SECONDS,
        metavar="SECONDS",
        help=f"only uploads at least this old (default {DEFAULT_RECONCILE_GRACE_SECONDS}, as deployed)",
    )
    _add_workdir(reconcile)
    reconcile.set_defaults(func=_cmd_reconcile)


def _add_workdir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workdir", type=Path, default=None, help=f"state and logs (default: {default_workdir()})"
    )


def _cmd_up(args: argparse.Namespace) -> int:
    from twi_asr.local.stack import MIRROR_DIR, LocalStack

    if args.model is not None and not args.model.is_dir():
        print(f"twi-asr: model directory not found: {args.model}", file=sys.stderr)
        return 2
    coalescing = None if args.coalesce_max_files is None else Coalescing(max_files=args.coalesce_max_files)
    config = LocalConfig(language=args.language, task=args.task, coalescing=coalescing)
    if args.concurrency is not None:
        config = replace(config, max_concurrent_invocations=args.concurrency)
    workdir = args.workdir or default_workdir()
    for signum in _STOP_SIGNALS:
        signal.signal(signum, _raise_keyboard_interrupt)
    print("starting the local stack (loading the model)...", file=sys.stderr, flush=True)
    stack = LocalStack(model_dir=args.model, workdir=workdir, config=config, persist=True, fresh=args.fresh)
    try:
        stack.start()  # stops what it started if interrupted or failing
    except KeyboardInterrupt:
        print("\nlocal stack stopped before it was up", file=sys.stderr)
        return 130
    try:
        assert stack.state is not None and stack.recovery is not None and stack.mirror is not None
        _print_banner(stack.state, workdir)
        print(stack.recovery.summary(stack.mirror.root), file=sys.stderr, flush=True)
        _watch_results(stack.s3, stack.bucket)
    except KeyboardInterrupt:
        pending = stack.mirror.pending() if stack.mirror is not None else 0
        print(
            f"\nstopping; {pending} uploads have no result yet: they are kept and resubmitted by the "
            "next `twi-asr local up` (Ctrl-C again quits at once, losing nothing)",
            file=sys.stderr,
            flush=True,
        )
    finally:
        stack.stop()
    print(
        f"local stack stopped; its bucket is kept in {workdir / MIRROR_DIR} "
        "(`twi-asr local up` picks up from there, `--fresh` forgets it)",
        file=sys.stderr,
    )
    return 0


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    """The first signal stops the stack cleanly; a second one ends the process at once (the
    bucket is on disk and the workers follow their parent, so that loses nothing either)."""
    for each in _STOP_SIGNALS:
        signal.signal(each, signal.SIG_DFL)
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


class _StackGone(Exception):
    """The stack's process exited while a command was waiting on it."""


# What a server that is not the stack's says about the stack's bucket and queues.
_NOT_THE_STACKS = {"NoSuchBucket", "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}


def _another_server(exc: BaseException | None) -> bool:
    """The stack's address answers without the stack's bucket or queues: the stack has stopped
    and the system gave its free port to another server (another local stack, a test's moto).
    boto3's uploads wrap the ClientError (``S3UploadFailedError``, raised while handling it)."""
    while exc is not None:
        if isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in _NOT_THE_STACKS:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


ClientCommand = Callable[[argparse.Namespace, StackState], int]


def _client_command(command: ClientCommand) -> Callable[[argparse.Namespace], int]:
    """Run ``command`` against the running stack; when there is none, or it stops answering
    (stopped, killed, crashed), say so in one line and exit with 2, instead of a traceback."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        workdir = args.workdir or default_workdir()
        try:
            state = StackState.read(workdir)
        except NoLocalStackError as exc:
            print(f"twi-asr: {exc}", file=sys.stderr)
            return 2
        try:
            return command(args, state)
        except (ClientError, S3UploadFailedError) as exc:
            if not _another_server(exc):
                raise
            return _say_gone(state, workdir)
        except (BotoConnectionError, HTTPClientError, _StackGone):
            return _say_gone(state, workdir)

    return run


def _say_gone(state: StackState, workdir: Path) -> int:
    """One line saying the stack is gone (or does not answer) and where its data is kept: 2."""
    deadline = time.monotonic() + STOPPING_GRACE_S  # a stack that is stopping closes first
    while state.is_running() and time.monotonic() < deadline:
        time.sleep(0.2)
    how = "has stopped" if not state.is_running() else f"does not answer at {state.aws_endpoint_url}"
    print(
        f"twi-asr: the local stack (pid {state.pid}) {how}; its uploads and results are kept "
        f"in {workdir}: start it again with `twi-asr local up`, then `twi-asr local results`",
        file=sys.stderr,
    )
    return 2


def _cmd_put(args: argparse.Namespace) -> int:
    missing = [str(p) for p in args.files if not p.is_file()]
    if missing:
        print(f"twi-asr: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    return _put(args)


@_client_command
def _put(args: argparse.Namespace, state: StackState) -> int:
    from twi_asr.client import StackRef, TwiAsrClient

    stack = StackRef(state.bucket, state.endpoint_name, state.region)
    client = TwiAsrClient(stack, session=state.session(), max_poll_s=RESULT_POLL_S)
    prefix = args.prefix.strip("/") + "/" if args.prefix.strip("/") else ""
    started = time.time()
    keys = []
    for path in args.files:
        key = client.upload(path, f"{names.AUDIO_PREFIX}{prefix}{path.name}", args.language, args.task)
        print(f"uploaded s3://{state.bucket}/{key}", file=sys.stderr, flush=True)
        keys.append(key)
    if not args.wait:
        return 0

    def check_alive(waited: float) -> None:
        if not state.is_running():
            raise _StackGone

    failures = 0
    for key in keys:
        try:
            result = client.wait_for_result(key, args.timeout, not_before=started - 1, on_wait=check_alive)
        except TimeoutError as exc:
            print(f"twi-asr: {exc}", file=sys.stderr)
            return 1
        failures += result.failed
        print(_summary(result.location.split("/", 3)[3], result.document), flush=True)
    return 1 if failures else 0


@_client_command
def _cmd_results(args: argparse.Namespace, state: StackState) -> int:
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


@_client_command
def _cmd_status(args: argparse.Namespace, state: StackState) -> int:
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


@_client_command
def _cmd_reconcile(args: argparse.Namespace, state: StackState) -> int:
    """The reconcile function's own code, run here against the local stack's bucket."""
    from twi_lambdas.reconcile import reconcile
    from twi_lambdas.settings import Settings

    settings = Settings(
        endpoint_name=state.endpoint_name, bucket_name=state.bucket, reconcile_grace_seconds=args.older_than
    )
    with contextlib.redirect_stdout(io.StringIO()):  # its JSON log and metric lines
        report = reconcile(settings, state.session().client("s3"))
    print(
        f"checked {report.checked} uploads: {len(report.in_flight)} in flight, "
        f"{len(report.resubmitted)} announced again, {len(report.gave_up)} recorded as failed"
    )
    for key in report.resubmitted:
        print(f"  announced again: {key}")
    for key in report.gave_up:
        print(f"  no outcome, failed/ written: {key}")
    return 0
