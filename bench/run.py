"""``make bench``: throughput and accuracy of our engines against the baselines, side by side.

Same machine, same Whisper base weights, same audio for every contender:

* ``speech``: ~10 minutes of real English speech (LibriSpeech, LibriVox, CMU Arctic, JFK,
  MFA clips from ../shared, with reference transcripts) with seeded 0.5-3 s pauses;
* ``sparse20``: 10 minutes that are 80 % silence (the same kind of speech, 20 %);
* the hard inputs (``--hard-minutes`` each, 3 by default), built to provoke skipped sentences:
  ``short_pauses`` (1-5 s utterances between 3-10 s pauses), ``inner_pauses`` (clips with
  1-4 s pauses inside), ``quiet`` (speech 20 dB quieter than the room noise allows),
  ``telephone`` (the speech through an 8 kHz mu-law phone line), ``slow`` (every clip at
  0.8x its pace, lower with it), ``reverb`` (in a hall: 0.6 s of reverberation) and
  ``babble`` (six talkers of other languages 15 dB under the speech).

Every clip's true start is known, so besides WER (with substitutions, deletions and
insertions) each contender gets a timing error: for each clip, how far the start of the
segment holding its first words is from where its speech starts (median, 95th percentile,
share within 0.5 s; ``found``: the clips whose first words some segment holds at all, a
clip misread whole counting as a miss), ``lost``: the clips at least half of whose words
were deleted (a sentence dropped, not misread), and its longest segment; and the subtitles
the product would write from its segments (:mod:`bench.cues`): cues on screen over 7 s,
and cues on screen through more than a second of a pause between clips. Under the table,
where each lost clip and each such cue starts, to listen to.

Each contender runs in its own process (clean cold-load time and peak memory), several times
per input within a time budget; medians are reported, with ratios against baseline A (the
seed's transformers pipeline). Output: ``bench-results/bench.json``, ``bench-results/bench.png``
and a table on stdout. ``--device cuda`` runs FP16 and sweeps the batch size.

Then the short-files workload (:mod:`bench.short`): ``--short-files`` real clips of 3-30 s,
one request each through the endpoint's handler with the container's concurrency, and
coalesced, ``--short-coalesce`` files per request, beside the same audio as one file and the
model's ceiling; ``--flow`` adds the whole flow through
the local stack (:mod:`bench.flow`: uploads at once, first upload to last result).

    python -m bench                # the default: fits in ~25 minutes on 2 CPU cores
    python -m bench --quick        # 30 s inputs, one run: a smoke test
    python -m bench --contenders none --short-concurrency 1,2 --flow   # short files only
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from twi_infra.paths import PROJECT_ROOT

from bench import machine
from bench.cues import as_segments, check_cues, pauses_between
from bench.inputs import (
    HARD_INPUTS,
    CannotBuild,
    LongForm,
    build_hard_input,
    build_longform,
    load_longforms,
    save_longforms,
)
from bench.timing import start_timing
from bench.worker import CONTENDERS
from twi_asr.default_model import default_model_dir
from twi_asr.scoring import word_error_rate

SHARED_DIR = Path(os.environ.get("TWI_ASR_SHARED") or PROJECT_ROOT.parent / "shared")
DEFAULT_OUT = PROJECT_ROOT / "bench-results"
BASELINE = "baseline_a"
OURS = "ctranslate2"
CUDA_BATCH_SWEEP = (4, 8, 16, 32)
NEEDS_TRANSFORMERS_WEIGHTS = {"baseline_a", "transformers"}  # the others run the CTranslate2 model
SWEPT = ("ctranslate2", "transformers")  # contenders whose batch size the CUDA sweep varies
SPARSE_SPEECH_FRACTION = 0.2
# input sizes (minutes) and runs per input: the full benchmark, and --quick's smoke test
FULL_SIZES = {"minutes": 10.0, "sparse_minutes": 10.0, "hard_minutes": 3.0, "runs": 3}
QUICK_SIZES = {"minutes": 0.5, "sparse_minutes": 0.5, "hard_minutes": 0.5, "runs": 1}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--shared", type=Path, default=SHARED_DIR, help="../shared (models/whisper-base, data/)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--minutes", type=float, help="length of the speech input (default 10)")
    p.add_argument(
        "--sparse-minutes", type=float, help="length of the 80 %%-silence input (default 10; 0: skip)"
    )
    p.add_argument("--hard-minutes", type=float, help="length of each hard input (default 3; 0: skip them)")
    p.add_argument("--runs", type=int, help="runs per input (default 3, medians); fewer when over budget")
    p.add_argument(
        "--budget-s",
        type=float,
        default=200.0,
        help="per contender: no new run starts after this many seconds (each input gets at least one run)",
    )
    p.add_argument(
        "--contenders",
        default=",".join(CONTENDERS),
        help=f"comma-separated subset of {CONTENDERS}, or none (only the short files)",
    )
    p.add_argument(
        "--batch-sizes",
        default=None,
        help="comma-separated batch sizes to sweep for our engines (default: none on CPU, "
        f"{','.join(map(str, CUDA_BATCH_SWEEP))} on CUDA)",
    )
    p.add_argument("--hf-model", type=Path, default=None, help="default: <shared>/models/whisper-base")
    p.add_argument("--ct2-model", type=Path, default=None, help="default: the assembled CTranslate2 model")
    p.add_argument(
        "--save-inputs",
        type=Path,
        default=None,
        help="build the inputs, write them to this folder (16-bit PCM, compressed) and stop: "
        "to run the very same audio on another machine with --inputs-dir",
    )
    p.add_argument(
        "--inputs-dir",
        type=Path,
        default=None,
        help="inputs from --save-inputs (then ../shared/data is not needed)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--short-files",
        type=int,
        default=100,
        help="requests of the short-files workload (bench.short; 0: skip it)",
    )
    p.add_argument(
        "--short-concurrency",
        default=None,
        help="comma-separated requests at once for the short files (default: the container's)",
    )
    p.add_argument(
        "--short-coalesce",
        type=int,
        default=None,
        help="files per coalesced request in the short-files workload (default: bench.short's; 0: skip them)",
    )
    p.add_argument(
        "--flow",
        action="store_true",
        help="also the whole flow through the local stack with the short files (bench.flow)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="30 s inputs (unless sizes are given), one run each: a smoke test of the harness",
    )
    args = p.parse_args(argv)
    for name, size in (QUICK_SIZES if args.quick else FULL_SIZES).items():
        if getattr(args, name) is None:  # given on the command line: kept, also with --quick
            setattr(args, name, size)
    if args.quick:
        args.short_files = min(args.short_files, 4)
    if args.contenders.strip().lower() == "none":
        args.contenders = ""
    args.contenders = [c.strip() for c in args.contenders.split(",") if c.strip()]
    unknown = sorted(set(args.contenders) - set(CONTENDERS))
    if unknown:
        p.error(f"unknown contender(s) {', '.join(unknown)}; choose from {', '.join(CONTENDERS)}")
    if args.batch_sizes is None:
        args.batch_sizes = list(CUDA_BATCH_SWEEP) if args.device == "cuda" else []
    else:
        args.batch_sizes = [int(b) for b in str(args.batch_sizes).split(",") if b.strip()]
    return args


def _write_inputs(folder: Path, inputs: list[LongForm]) -> None:
    meta = []
    for lf in inputs:
        np.save(folder / f"{lf.name}.npy", lf.audio)
        meta.append({"name": lf.name, "file": f"{lf.name}.npy"})
    (folder / "inputs.json").write_text(json.dumps(meta), encoding="utf-8")


def _run_contender(
    args: argparse.Namespace,
    contender: str,
    batch_size: int | None,
    folder: Path,
    hf_dir: Path,
    ct2_dir: Path,
) -> dict[str, Any]:
    label = contender if batch_size is None else f"{contender}[bs={batch_size}]"
    out = folder / f"{label}.json"
    cmd = [
        sys.executable, "-m", "bench.worker",
        "--contender", contender, "--inputs", str(folder), "--out", str(out),
        "--hf-model", str(hf_dir), "--ct2-model", str(ct2_dir), "--device", args.device,
        "--runs", str(args.runs), "--budget-s", str(args.budget_s),
    ]  # fmt: skip
    if batch_size is not None:
        cmd += ["--batch-size", str(batch_size)]
    print(f"- {label}", file=sys.stderr, flush=True)
    started, steal0 = time.perf_counter(), machine.steal_s()
    proc = subprocess.run(
        cmd, stdout=subprocess.PIPE, stderr=sys.stderr, text=True, check=False, cwd=PROJECT_ROOT
    )
    if proc.returncode != 0 or not out.is_file():
        return {"label": label, "contender": contender, "error": f"worker exited with {proc.returncode}"}
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    result["label"] = label
    wall = time.perf_counter() - started
    result["process_wall_s"] = round(wall, 1)
    result["steal_share"] = machine.steal_share(steal0, machine.steal_s(), wall)  # None off Linux
    return result


def _score(result: dict[str, Any], inputs: list[LongForm], hf_dir: Path) -> None:
    """Medians, throughput and WER per input, in place."""
    for lf in inputs:
        item = result["inputs"].get(lf.name)
        if not item:
            continue
        median = statistics.median(item["wall_s"])
        item["runs"] = len(item["wall_s"])
        item["median_wall_s"] = round(median, 3)
        item["x_real_time"] = round(lf.duration_s / median, 2)
        item["rtf"] = round(median / lf.duration_s, 4)
        item["wer"] = word_error_rate(lf.reference, item["text"], str(hf_dir)).as_dict()
        if lf.spans and item.get("segments"):
            spans = [(sp.start_s, sp.reference) for sp in lf.spans]
            item["timing"] = start_timing(spans, item["segments"], str(hf_dir)).as_dict()
            pauses = pauses_between([(sp.start_s, sp.end_s) for sp in lf.spans])
            item["cues"] = check_cues(pauses, as_segments(item["segments"])).as_dict()


def _ratios(results: list[dict[str, Any]], inputs: list[LongForm]) -> None:
    base = next((r for r in results if r["label"] == BASELINE and "error" not in r), None)
    if base is None:
        return
    for r in results:
        for lf in inputs:
            mine, theirs = r.get("inputs", {}).get(lf.name), base["inputs"].get(lf.name)
            if mine and theirs:
                mine["speedup_vs_baseline_a"] = round(theirs["median_wall_s"] / mine["median_wall_s"], 2)


def _table(results: list[dict[str, Any]], inputs: list[LongForm]) -> str:
    head = (
        f"{'contender':28} {'input':12} {'runs':>4} {'wall s':>7} {'x RT':>6} {'RTF':>7} {'vs A':>6} "
        f"{'WER %':>6} {'S/D/I':>11} {'start p50/p95 s':>15} {'<=0.5s':>6} {'found':>7} {'lost':>4} "
        f"{'max seg':>7} {'cues >7s/pause':>14} "
        f"{'load s':>7} {'RSS MB':>7} {'GPU MB':>7} {'steal':>5}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        if "error" in r:
            lines.append(f"{r['label']:28} ERROR: {r['error']}")
            continue
        for lf in inputs:
            it = r["inputs"].get(lf.name)
            if not it:
                continue
            w = it["wer"]
            sdi = f"{w['substitutions']}/{w['deletions']}/{w['insertions']}"
            speedup = it.get("speedup_vs_baseline_a", float("nan"))
            t = it.get("timing")
            starts = f"{t['median_s']:.2f}/{t['p95_s']:.2f}" if t and t["median_s"] is not None else "-"
            within = f"{t['within_half_s'] * 100:.0f} %" if t else "-"
            # clips whose first words were found at all: one misread whole counts as a miss
            found = f"{t['found']}/{t['clips']}" if t else "-"
            lost = f"{t['lost']}" if t else "-"  # clips with half their words or more deleted
            c = it.get("cues")
            cue_faults = f"{c['too_long']}/{c['over_pause']} of {c['cues']}" if c else "-"
            longest = f"{t['max_segment_s']:.1f}" if t else "-"
            steal = r.get("steal_share")
            stolen = "-" if steal is None else f"{steal * 100:.0f} %"
            lines.append(
                f"{r['label']:28} {lf.name:12} {it['runs']:>4} {it['median_wall_s']:>7.1f} "
                f"{it['x_real_time']:>6.1f} {it['rtf']:>7.4f} {speedup:>6.2f} {w['wer'] * 100:>6.2f} "
                f"{sdi:>11} {starts:>15} {within:>6} {found:>7} {lost:>4} {longest:>7} {cue_faults:>14} "
                f"{r['load_s']:>7.1f} {r['peak_rss_mb']:>7.0f} {r['peak_gpu_mb'] or 0:>7.0f} {stolen:>5}"
            )
    return "\n".join(lines)


def _where_to_listen(results: list[dict[str, Any]], inputs: list[LongForm]) -> list[str]:
    """A line for each run that lost a clip or showed a cue through a pause: where (seconds)."""
    lines = []
    for r in results:
        for lf in inputs:
            it = r.get("inputs", {}).get(lf.name) or {}
            lost = (it.get("timing") or {}).get("lost_at_s") or ()
            over = (it.get("cues") or {}).get("over_pause_at_s") or ()
            said = [f"clips lost at {_seconds(lost)}"] if lost else []
            said += [f"cues through a pause from {_seconds(over)}"] if over else []
            if said:
                lines.append(f"{r['label']} {lf.name}: {'; '.join(said)}")
    return lines


def _seconds(times: Sequence[float], most: int = 5) -> str:
    shown = ", ".join(f"{t:g}" for t in times[:most])
    return f"{shown} s" + (f" and {len(times) - most} more" if len(times) > most else "")


def _chart(results: list[dict[str, Any]], inputs: list[LongForm], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in results if "error" not in r]
    labels = [r["label"] for r in ok]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    width = 0.8 / max(1, len(inputs))
    for k, lf in enumerate(inputs):
        xs = [i + k * width for i in range(len(ok))]
        speed = [r["inputs"].get(lf.name, {}).get("x_real_time", 0.0) for r in ok]
        wer = [r["inputs"].get(lf.name, {}).get("wer", {}).get("wer", 0.0) * 100 for r in ok]
        axes[0].bar(xs, speed, width, label=f"{lf.name} ({lf.duration_s / 60:.1f} min)")
        axes[1].bar(xs, wer, width, label=lf.name)
    for ax, title in zip(
        axes, ("throughput (x real time, higher is better)", "WER % (lower is better)"), strict=True
    ):
        ax.set_title(title)
        ax.set_xticks([i + width * (len(inputs) - 1) / 2 for i in range(len(ok))])
        ax.set_xticklabels(labels, rotation=20, ha="right", fontsize=8)
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    device = ok[0]["device"] if ok else "?"
    fig.suptitle(f"Whisper base, {device}: same weights, same audio")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _hf_model(args: argparse.Namespace) -> Path:
    """Whisper base in transformers format: ``--hf-model``, else under ``--shared``, else
    under ../shared (held-out data given with ``--shared`` need not hold the model)."""
    if args.hf_model is not None:
        return Path(args.hf_model)
    given = args.shared / "models" / "whisper-base"
    return given if (given / "config.json").is_file() else SHARED_DIR / "models" / "whisper-base"


def _inputs(args: argparse.Namespace, data_dir: Path) -> tuple[list[LongForm], dict[str, str]]:
    """The inputs, and those the data cannot make with the reason (held-out data need not
    have every folder of ../shared)."""
    if args.inputs_dir is not None:
        return load_longforms(args.inputs_dir), {}
    inputs = [build_longform(data_dir, args.minutes, seed=args.seed)]
    if args.sparse_minutes > 0:
        inputs.append(build_longform(data_dir, args.sparse_minutes, args.seed + 1, SPARSE_SPEECH_FRACTION))
    left_out = {}
    for name in HARD_INPUTS if args.hard_minutes > 0 else ():
        try:
            inputs.append(build_hard_input(data_dir, name, args.hard_minutes, args.seed))
        except CannotBuild as e:
            left_out[name] = str(e)
    return inputs, left_out


def _report(
    args: argparse.Namespace,
    inputs: list[LongForm],
    results: list[dict[str, Any]],
    started: float,
    left_out: dict[str, str],
) -> dict[str, Any]:
    return {
        "machine": {
            **machine.description(),
            "device": args.device,
            "gpu": _gpu_name() if args.device == "cuda" else None,
        },
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "inputs": [
            {
                "name": lf.name,
                "duration_s": round(lf.duration_s, 2),
                "speech_s": lf.speech_s,
                "clips": lf.clips,
                "reference": lf.reference,
            }
            for lf in inputs
        ],
        "left_out": left_out,  # inputs the data could not make, with the reason
        "results": results,
        "total_s": round(time.perf_counter() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    hf_dir = _hf_model(args)
    data_dir = args.shared / "data"
    needs_hf = sorted(set(args.contenders) & NEEDS_TRANSFORMERS_WEIGHTS) if args.save_inputs is None else []
    missing = [f"the data ({data_dir})"] if args.inputs_dir is None and not data_dir.is_dir() else []
    if needs_hf and not (hf_dir / "config.json").is_file():
        missing.append(f"Whisper base in transformers format for {', '.join(needs_hf)} ({hf_dir})")
    if missing:
        print(
            f"make bench needs ../shared: not found: {'; '.join(missing)}. Pass --shared <dir> if it "
            "lives elsewhere (the model is also looked for in ../shared).",
            file=sys.stderr,
        )
        return 2
    started = time.perf_counter()
    wanted = bool(args.contenders) or args.save_inputs is not None
    inputs, left_out = _inputs(args, data_dir) if wanted else ([], {})
    for lf in inputs:
        print(
            f"input {lf.name}: {lf.duration_s:.0f} s, {lf.speech_s:.0f} s speech in {lf.clips} clips",
            file=sys.stderr,
        )
    for name, why in left_out.items():
        print(f"input {name} left out: {why}", file=sys.stderr)
    if args.save_inputs is not None:
        save_longforms(inputs, args.save_inputs)
        print(f"wrote the inputs to {args.save_inputs}", file=sys.stderr)
        return 0
    ct2_dir = args.ct2_model or default_model_dir()
    args.out.mkdir(parents=True, exist_ok=True)
    json_path = args.out / "bench.json"
    results: list[dict[str, Any]] = []
    report = _report(args, inputs, results, started, left_out)
    with tempfile.TemporaryDirectory(prefix="twi-bench-") as tmp:
        folder = Path(tmp)
        _write_inputs(folder, inputs)
        for contender in args.contenders:
            sizes: list[int | None] = [None]
            if contender in SWEPT:
                sizes += [b for b in args.batch_sizes]
            for size in sizes:
                result = _run_contender(args, contender, size, folder, hf_dir, ct2_dir)
                if "error" not in result:
                    _score(result, inputs, hf_dir)
                results.append(result)
                _ratios(results, inputs)
                # written after every contender: an interrupted run keeps what it measured
                report = _report(args, inputs, results, started, left_out)
                json_path.write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
        ok = all("error" not in r for r in results)
        if results:
            print(_table(results, inputs))
            for line in _where_to_listen(results, inputs):
                print(line)
            if any("error" not in r for r in results):
                _chart(results, inputs, args.out / "bench.png")
        extra_ok = _short_and_flow(args, data_dir, ct2_dir, folder, report)
    report["total_s"] = round(time.perf_counter() - started, 1)
    json_path.write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    charted = f" and {args.out / 'bench.png'}" if results else ""
    for name, why in left_out.items():  # said again under the table
        print(f"input {name} left out: {why}")
    print(f"\nwrote {json_path}{charted} in {report['total_s']:.0f} s")
    return 0 if ok and extra_ok else 1


def _short_and_flow(
    args: argparse.Namespace, data_dir: Path, ct2_dir: Path, folder: Path, report: dict[str, Any]
) -> bool:
    """The short-files workload (and with ``--flow`` the whole flow), each in its own process
    like the contenders; their figures go into ``report`` (``short_files``, ``flow``)."""
    from bench.short import short_clips
    from bench.short import table as short_table

    if args.short_files <= 0 and not args.flow:
        return True
    try:
        short_clips(data_dir)
    except FileNotFoundError as e:
        print(f"short files skipped: {e}", file=sys.stderr)
        return True
    common = ["--shared", str(args.shared), "--n", str(max(1, args.short_files)), "--seed", str(args.seed)]
    common += ["--model", str(ct2_dir)]
    if args.short_concurrency:
        common += ["--concurrency", args.short_concurrency]
    ok = True
    steps = [("short_files", "bench.short")] if args.short_files > 0 else []
    steps += [("flow", "bench.flow")] if args.flow else []
    only_short = ["--coalesce", str(args.short_coalesce)] if args.short_coalesce is not None else []
    for key, module in steps:
        out = folder / f"{key}.json"
        extra = only_short if module == "bench.short" else []
        proc = subprocess.run(
            [sys.executable, "-m", module, *common, *extra, "--out", str(out)],
            stdout=subprocess.PIPE,
            stderr=sys.stderr,
            text=True,
            check=False,
            cwd=PROJECT_ROOT,
        )
        if not out.is_file():
            report[key] = {"error": f"{module} exited with {proc.returncode}"}
            ok = False
            continue
        report[key] = json.loads(out.read_text(encoding="utf-8"))
        ok = ok and proc.returncode == 0
    if "runs" in report.get("short_files", {}):
        print()
        print(short_table(report["short_files"]))
    for run in report.get("flow", {}).get("runs", []):
        print(
            f"whole flow (local stack), {run['uploads']} uploads at once, {run['concurrency']} at once on "
            f"the endpoint: first upload -> last result {run['wall_s']:.1f} s, "
            f"{run['x_real_time']:.1f}x real time"
        )
    return ok


def _gpu_name() -> str | None:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out or None


if __name__ == "__main__":
    raise SystemExit(main())
