"""The whole flow with short files: N uploads at once into the local stack, first upload to last result.

``bench.short`` measures the endpoint's handler alone; this measures what a user sees: the
offline local stack (``twi_asr.local``: moto S3/SQS/SNS, the two Lambda functions behind their
SQS pollers, the local SageMaker async endpoint running ``inference/inference.py`` in model
server worker processes) takes N uploads under ``audio/`` at once (``language=en`` in each
object's metadata, as users set it) and writes N transcripts. The clock runs from the first
upload to the moment the last result is seen (polled every second); starting the stack is not
counted. Beside it, the CPU the stack's own process took meanwhile (moto, the event-source
pollers, the local endpoint's S3 traffic, the uploads): work that in AWS runs on other
machines, here on the cores the endpoint's workers share.

    python -m bench.flow --n 100 --concurrency 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from twi_endpoint.segmentation import usable_cpu_count

from bench.short import LANGUAGE, ShortFile, container_concurrency, short_workload

POLL_S = 1.0  # how often the results are looked for
UPLOAD_THREADS = 16  # a user's client uploads in parallel (twi-asr submit does)


def _result_keys(stack: Any, prefixes: tuple[str, ...]) -> set[str]:
    """The result records in the stack's bucket, read from moto's S3 backend in this process.

    The observer must not take the CPU it measures: listing them over HTTP every second (moto
    answering, botocore parsing a timestamp per key, more keys each second) took 3.6 CPU-s of
    the stack's process in a 200-upload run (24.7 against 21.1), from the cores the
    endpoint's workers share.
    """
    from moto.s3.models import FakeDeleteMarker, s3_backends
    from moto.utilities.utils import get_partition

    from twi_asr.local.config import ACCOUNT_ID

    bucket = s3_backends[ACCOUNT_ID][get_partition(stack.config.region)].buckets[stack.bucket]
    versions = bucket.keys.lists()  # (key, its versions, latest last), from a copy of the store
    return {
        key
        for key, kept in versions
        if key.startswith(prefixes) and key.endswith(".json") and not isinstance(kept[-1], FakeDeleteMarker)
    }


def run_flow(
    files: list[ShortFile], concurrency: int, model_dir: Path | None, timeout_s: float
) -> dict[str, Any]:
    """Upload every file at once and wait for every result; the figures as plain data."""
    from twi_lambdas import names

    from twi_asr.local.config import LocalConfig
    from twi_asr.local.stack import LocalStack

    config = LocalConfig(max_concurrent_invocations=concurrency)
    keys = [f"{names.AUDIO_PREFIX}short/{i:04d}-{f.path.name}" for i, f in enumerate(files)]
    with tempfile.TemporaryDirectory(prefix="twi-bench-flow-") as tmp:
        started = time.monotonic()
        with LocalStack(model_dir=model_dir, workdir=Path(tmp), config=config) as stack:
            startup_s = time.monotonic() - started
            print(f"  local stack up in {startup_s:.0f} s", file=sys.stderr, flush=True)
            prefixes = (f"{names.TRANSCRIPTS_PREFIX}short/", f"{names.FAILED_PREFIX}short/")
            t0, cpu0 = time.monotonic(), time.process_time()
            with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
                list(
                    pool.map(
                        lambda kf: stack.upload(kf[1].path, kf[0], {names.META_LANGUAGE: LANGUAGE}),
                        zip(keys, files, strict=True),
                    )
                )
            uploaded_s = time.monotonic() - t0
            seen: set[str] = set()
            while len(seen) < len(files):
                if time.monotonic() - t0 > timeout_s:
                    raise TimeoutError(f"{len(seen)} of {len(files)} results after {timeout_s:.0f} s")
                time.sleep(POLL_S)
                seen = _result_keys(stack, prefixes)
            wall, stack_cpu = time.monotonic() - t0, time.process_time() - cpu0
            documents = [stack.get_json(k) or {} for k in sorted(seen)]
    failed = sum(k.startswith(names.FAILED_PREFIX) for k in seen)
    meta = [d.get("metadata", {}) for d in documents]
    processing = [m["processing_time_sec"] for m in meta if "processing_time_sec" in m]
    rtf = [m["rtf"] for m in meta if "rtf" in m]
    audio_s = sum(f.duration_s for f in files)
    return {
        "concurrency": concurrency,
        "uploads": len(files),
        "failed": failed,
        "audio_s": round(audio_s, 3),
        "upload_s": round(uploaded_s, 3),
        "wall_s": round(wall, 3),  # first upload -> last result
        "x_real_time": round(audio_s / wall, 2),
        "endpoint_s": round(sum(processing), 3),  # metadata.processing_time_sec, summed
        "endpoint_share": round(sum(processing) / concurrency / wall, 3) if processing else None,
        "median_rtf": round(statistics.median(rtf), 4) if rtf else None,
        # this process: moto, the event-source pollers, the local endpoint's S3 traffic, the
        # uploads; CPU that in AWS is other machines', here taken from the endpoint's cores
        "stack_cpu_s": round(stack_cpu, 2),
        "stack_share": round(stack_cpu / (wall * usable_cpu_count()), 3),
        "startup_s": round(startup_s, 1),
    }


def main(argv: list[str] | None = None) -> int:
    from twi_infra.paths import PROJECT_ROOT

    shared = Path(os.environ.get("TWI_ASR_SHARED") or PROJECT_ROOT.parent / "shared")
    p = argparse.ArgumentParser(
        prog="python -m bench.flow", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--shared", type=Path, default=shared)
    p.add_argument("--n", type=int, default=100, help="uploads (clips, repeated and shuffled)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--concurrency",
        default=None,
        help="comma-separated max concurrent invocations (= worker processes); default: the container's",
    )
    p.add_argument("--model", type=Path, default=None, help="default: the offline Whisper base")
    p.add_argument("--timeout-s", type=float, default=3600.0)
    p.add_argument("--out", type=Path, default=None, help="write the figures (JSON) here")
    args = p.parse_args(argv)
    if not (args.shared / "data").is_dir():
        print(f"the flow benchmark needs ../shared/data (not found at {args.shared})", file=sys.stderr)
        return 2
    files = short_workload(args.shared / "data", args.n, args.seed)
    concurrencies = (
        [int(c) for c in args.concurrency.split(",") if c.strip()]
        if args.concurrency
        else [container_concurrency()]
    )
    runs = []
    for c in concurrencies:
        print(f"- whole flow: {len(files)} uploads at once, {c} at once on the endpoint", file=sys.stderr)
        run = run_flow(files, c, args.model, args.timeout_s)
        print(
            f"  first upload -> last result {run['wall_s']:.1f} s: {run['x_real_time']:.1f}x real time "
            f"(endpoint busy {(run['endpoint_share'] or 0) * 100:.0f} % of it, "
            f"median rtf {run['median_rtf']}; the local stack's own process took "
            f"{run['stack_share'] * 100:.0f} % of the CPU)",
            flush=True,
        )
        runs.append(run)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"runs": runs}, indent=1), encoding="utf-8")
    return 0 if all(r["failed"] == 0 for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
