"""The short-files workload: many short uploads, one request each, through the endpoint's handler.

Much of what the product sees is short (voice notes, call snippets, dataset clips of 3-30 s),
and a stream of short files costs the endpoint far more than the same audio in one file:
every request pays its own encoder window (10-30 s however short the file), its own decoding
and its own fixed costs. This measures it the way the container serves it:

* **one request per file**: N real English clips of 3-30 s from ``../shared/data`` (``en/``
  and ``formats/``: wav, flac, mp3, ogg, webm, m4a, sent as the bytes a user uploads),
  repeated and shuffled to N with a seed, all queued at once;
* **the handler's code path exactly as the container runs it**: ``inference/inference.py``
  loaded by :class:`twi_asr.local_model.LocalModel` (``input_fn`` -> ``predict_fn`` ->
  ``output_fn`` with the request's CustomAttributes, ``language=en``);
* **the container's concurrency**: the model server's worker *processes* (each loads the
  model once, takes one request at a time from the shared queue, as multi-model-server's
  workers do), as many as take requests at once: ``min(max_concurrent_invocations_per_instance,
  SAGEMAKER_MODEL_SERVER_WORKERS)`` from ``twi_infra`` unless ``--concurrency`` says otherwise;
* **coalesced requests**: the same files in groups of ``--coalesce`` (submit's default;
  several sizes: ``--coalesce 10,16``; ``--no-per-file`` leaves out the first), each group one
  request (``twi_contract.pack_batch``, as submit packs short uploads that arrive together),
  through the same handler and workers: the engine decodes the windows of a group's files in
  shared batches, and answers one result per file (its texts must score the same WER);
* beside it **the same audio as one file** (the clips as the endpoint decodes them, joined
  with 1 s of room noise, one FLAC request), and **the model's ceiling**: every clip padded
  to its own window (the engine's encoder input: 10, 20 or 30 s), features + encoder +
  decoder only, batched by size as the engine batches (no VAD, no word alignment, no handler).

Per request it records where the time goes (exclusive times, seconds): ``decode`` (bytes
to 16 kHz), ``vad`` (the silence gate: energy + Silero), ``features`` (log-mel), ``encode``,
``generate`` (decoder, with any beam-5 retries), ``align`` (word times), ``timeline`` (the
engine's own Python: segments, coverage), ``result`` (building and serialising the JSON) and
``handler`` (the rest of the request: options, glue). *Model time* is ``encode + generate``;
*per-request overhead* is the request's time minus its model time.

    python -m bench.short --n 100 --concurrency 1,2 --coalesce 10   # prints a table, writes JSON
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import queue
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from twi_contract import BATCH_CONTENT_TYPE, GENERIC_CONTENT_TYPE, BatchItem, BatchKeys, pack_batch
from twi_endpoint.segmentation import usable_cpu_count
from twi_endpoint.types import SAMPLE_RATE
from twi_lambdas import names

from bench.inputs import clips_with_references, either
from bench.machine import busy_s, description

LANGUAGE = "en"
SHORT_MIN_S = 3.0  # the "short": 3-30 s
SHORT_MAX_S = 30.0
SHORT_FOLDERS = ("en", "formats")
NON_ENGLISH_PREFIXES = ("mls-",)  # formats/ also holds a Spanish reading (Multilingual LibriSpeech)
GAP_S = 1.0  # between the clips of the concatenated file
ROOM_NOISE_RMS = 3e-4  # the gaps: about -70 dBFS, as in bench.inputs
STAGES = ("decode", "vad", "features", "encode", "generate", "align", "timeline", "result", "handler")
MODEL_STAGES = ("encode", "generate")
COALESCE = names.DEFAULT_COALESCE_MAX_FILES  # files per coalesced request: submit's default group
START_TIMEOUT_S = 600.0
REQUEST_TIMEOUT_S = 1800.0  # no result for this long: a worker died


@dataclass(frozen=True)
class ShortFile:
    path: Path
    duration_s: float
    reference: str

    @property
    def name(self) -> str:
        return f"{self.path.parent.name}/{self.path.name}"


def short_clips(shared_data: Path) -> list[ShortFile]:
    """English clips of 3-30 s with a reference, in the formats users upload (from the
    folders of :data:`SHORT_FOLDERS` the data has)."""
    clips = [
        ShortFile(clip.path, clip.duration_s, clip.reference)
        for folder in SHORT_FOLDERS
        for clip in clips_with_references(shared_data, folder)
        if SHORT_MIN_S <= clip.duration_s <= SHORT_MAX_S
        and not clip.path.name.startswith(NON_ENGLISH_PREFIXES)
    ]
    if not clips:
        raise FileNotFoundError(
            f"no English clips of {SHORT_MIN_S:g}-{SHORT_MAX_S:g} s with a reference under "
            f"{shared_data} ({either(SHORT_FOLDERS)})"
        )
    return clips


def short_workload(shared_data: Path, n: int, seed: int = 0) -> list[ShortFile]:
    """``n`` clips: the pool shuffled (with ``seed``), again and again until there are ``n``."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    pool = short_clips(shared_data)
    rng = random.Random(f"short-{seed}")
    out: list[ShortFile] = []
    while len(out) < n:
        order = pool[:]
        rng.shuffle(order)
        out += order[: n - len(out)]
    return out


def container_concurrency() -> int:
    """Requests the deployed container works on at once: SageMaker sends up to
    ``max_concurrent_invocations_per_instance``, the model server has
    ``SAGEMAKER_MODEL_SERVER_WORKERS`` processes, each taking one request at a time."""
    from twi_infra.config import StackSettings

    workers = int(worker_environment().get("SAGEMAKER_MODEL_SERVER_WORKERS", "1"))
    return max(1, min(StackSettings().max_concurrent_invocations_per_instance, workers))


def concatenate(files: list[ShortFile], seed: int = 0) -> tuple[bytes, float]:
    """The clips as the endpoint decodes them, joined with ``GAP_S`` of room noise (and one
    before the first), as 16 kHz FLAC; with the seconds of clip audio (gaps not counted)."""
    import soundfile as sf
    from twi_endpoint.audio import decode_audio

    noise = np.random.default_rng(seed)
    decoded: dict[Path, np.ndarray] = {}
    parts: list[np.ndarray] = []
    for f in files:
        if f.path not in decoded:
            decoded[f.path] = decode_audio(f.path.read_bytes(), name=f.path.name).samples
        parts.append((noise.standard_normal(int(GAP_S * SAMPLE_RATE)) * ROOM_NOISE_RMS).astype(np.float32))
        parts.append(decoded[f.path])
    audio = np.clip(np.concatenate(parts), -1.0, 1.0)
    buf = io.BytesIO()
    sf.write(buf, audio, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    clip_s = sum(decoded[f.path].size for f in files) / SAMPLE_RATE
    return buf.getvalue(), clip_s


# --- inside a worker process -----------------------------------------------------------------
class StageTimer:
    """Exclusive seconds per stage of the current request: a stage's time excludes the
    stages it calls (``predict_fn`` -> engine -> encoder), so the stages add up."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self._stack: list[list[float]] = []  # [start, seconds taken by nested stages]

    def reset(self) -> None:
        self.totals, self.counts = {}, {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        frame = [time.perf_counter(), 0.0]
        self._stack.append(frame)
        try:
            yield
        finally:
            self._stack.pop()
            took = time.perf_counter() - frame[0]
            self.totals[name] = self.totals.get(name, 0.0) + took - frame[1]
            self.counts[name] = self.counts.get(name, 0) + 1
            if self._stack:
                self._stack[-1][1] += took

    def wrap(self, owner: Any, attribute: str, name: str) -> None:
        """Time every call of ``owner.attribute`` (a module function or a class method)."""
        original = getattr(owner, attribute)

        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.stage(name):
                return original(*args, **kwargs)

        timed.__wrapped__ = original  # type: ignore[attr-defined]
        setattr(owner, attribute, timed)


def install_timers(handler: Any, engine: Any) -> StageTimer:
    """Wrap the handler's stages (the module functions it calls by name) and, for the
    CTranslate2 engine, the engine's model calls; other engines show as ``timeline``."""
    from twi_endpoint import ct2_engine, service

    timer = StageTimer()
    timer.wrap(service, "decode_audio", "decode")
    timer.wrap(service, "check_speech", "vad")
    timer.wrap(service, "build_result", "result")
    timer.wrap(handler, "encode_output", "result")
    timer.wrap(type(engine), "transcribe", "timeline")
    timer.wrap(type(engine), "transcribe_many", "timeline")  # a coalesced request's engine call
    if isinstance(engine, ct2_engine.CTranslate2Engine):
        for attribute, name in (
            ("_log_mel", "features"),
            ("_encode", "encode"),
            ("_generate", "generate"),
            ("_align", "align"),
        ):
            timer.wrap(ct2_engine.CTranslate2Engine, attribute, name)
        recover = ct2_engine.recover_uncovered_many

        def counted(*args: Any, **kwargs: Any) -> Any:
            recovered = recover(*args, **kwargs)
            again = sum(n for _, n in recovered)
            timer.counts["redecoded_windows"] = timer.counts.get("redecoded_windows", 0) + again
            return recovered

        ct2_engine.recover_uncovered_many = counted
    return timer


def _ceiling(model: Any, paths: list[str]) -> dict[str, Any] | None:
    """Every clip in its own window (as long as the engine's encoder input for it: 10, 20 or
    30 s), features + encoder + greedy decoder only, in the engine's batches of one size
    (both replicas busy): what this model costs per clip at best."""
    from twi_endpoint import ct2_engine
    from twi_endpoint.audio import decode_audio

    engine = model.engine
    if not isinstance(engine, ct2_engine.CTranslate2Engine):
        return None
    audios = [decode_audio(Path(p).read_bytes()).samples for p in paths]
    tokenizer = engine._tokenizer(LANGUAGE, "transcribe")
    started = time.perf_counter()
    texts = [""] * len(audios)
    seconds = [a.size / ct2_engine.SAMPLE_RATE for a in audios]
    for rows in ct2_engine.batches_of_one_size(range(len(audios)), seconds.__getitem__, engine.batch_size):
        mels = [engine._log_mel(audios[i]) for i in rows]
        decoded = engine._decode_batch(engine._encode(mels), [tokenizer] * len(mels))
        for i, d in zip(rows, decoded, strict=True):
            texts[i] = d.text
    wall = time.perf_counter() - started
    return {"wall_s": round(wall, 3), "text": " ".join(t.strip() for t in texts)}


def _serve(model_dir: str, environment: dict[str, str], jobs: Any, results: Any, warmup: str) -> None:
    """One model-server worker: load the handler once, then take requests until told to stop."""
    os.environ.update(environment)
    try:
        from twi_asr.local_model import LocalModel

        started = time.perf_counter()
        model = LocalModel(model_dir)
        load_s = time.perf_counter() - started
        timer = install_timers(model.handler, model.engine)
        model.invoke(Path(warmup).read_bytes(), "application/octet-stream", f"language={LANGUAGE}")
    except Exception as exc:
        results.put(("failed", os.getpid(), f"{type(exc).__name__}: {exc}"))
        return
    results.put(("ready", os.getpid(), round(load_s, 3)))
    cpu0 = _cpu_s()
    while True:
        job = jobs.get()
        if job is None:
            break
        kind, index, payload = job
        if kind == "ceiling":
            results.put(("ceiling", index, _ceiling(model, payload)))
            continue
        # the upload(s), already in hand (S3's time and submit's packing are not the endpoint's)
        if kind == "coalesced":
            body, content_type, attributes = coalesced_body(payload), BATCH_CONTENT_TYPE, ""
        else:
            body, content_type, attributes = Path(payload).read_bytes(), GENERIC_CONTENT_TYPE, ATTRIBUTES
        timer.reset()
        t0 = time.monotonic()
        error, document = None, None
        try:
            document = json.loads(model.invoke(body, content_type, attributes))
        except Exception as exc:  # a refused request is a result too
            error = f"{type(exc).__name__}: {exc}"
        t1 = time.monotonic()
        stages = {name: round(timer.totals.get(name, 0.0), 4) for name in STAGES if name != "handler"}
        stages["handler"] = round(max(0.0, (t1 - t0) - sum(stages.values())), 4)
        meta = (document or {}).get("metadata", {})
        texts, file_errors = answer_texts(document, len(payload) if kind == "coalesced" else 1)
        results.put(
            (
                "done",
                index,
                {
                    "start": t0,
                    "end": t1,
                    "wall_s": round(t1 - t0, 4),
                    "stages": stages,
                    "calls": dict(timer.counts),
                    "audio_s": meta.get("audio_duration_sec"),
                    "processing_s": meta.get("processing_time_sec"),
                    "rtf": meta.get("rtf"),
                    "chunks": meta.get("chunks"),
                    "input_format": meta.get("input_format"),
                    "texts": texts,  # one per file
                    "file_errors": file_errors,  # one per file that failed (the request or alone)
                    "error": error,
                    "worker": os.getpid(),
                },
            )
        )
    results.put(("cpu", os.getpid(), round(_cpu_s() - cpu0, 3)))


ATTRIBUTES = f"language={LANGUAGE}"  # every request's CustomAttributes, as the measurement sent


def coalesced_body(paths: list[str]) -> bytes:
    """One coalesced request of the files at ``paths``, each with the per-file request's
    content type and CustomAttributes."""
    return pack_batch(
        BatchItem(str(k), Path(p).read_bytes(), GENERIC_CONTENT_TYPE, ATTRIBUTES) for k, p in enumerate(paths)
    )


def answer_texts(document: dict[str, Any] | None, files: int) -> tuple[list[str], list[str]]:
    """The transcript of each file a request carried ("" where it failed) and the errors:
    from a single result, or from a coalesced answer's items; ``None``: the request failed."""
    if document is None:
        return [""] * files, ["the request failed"] * files
    if BatchKeys.ITEMS not in document:
        return [document.get("transcript", "")], []
    items = document[BatchKeys.ITEMS]
    texts = [item.get(BatchKeys.RESULT, {}).get("transcript", "") for item in items]
    return texts, [item[BatchKeys.ERROR] for item in items if BatchKeys.ERROR in item]


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- the parent ---------------------------------------------------------------------------
class WorkerPool:
    """``workers`` processes serving one queue, like the model server's workers."""

    def __init__(self, model_dir: Path, workers: int, warmup: Path, environment: dict[str, str]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.jobs: Any = ctx.Queue()
        self.results: Any = ctx.Queue()
        self.procs = [
            ctx.Process(
                target=_serve,
                args=(str(model_dir), environment, self.jobs, self.results, str(warmup)),
                daemon=True,
            )
            for _ in range(workers)
        ]
        for p in self.procs:
            p.start()
        self.load_s: list[float] = []
        for _ in self.procs:
            kind, pid, info = self._get(START_TIMEOUT_S)
            if kind != "ready":
                self.close()
                raise RuntimeError(f"worker {pid} did not load the model: {info}")
            self.load_s.append(info)

    def _get(self, timeout: float) -> tuple[Any, ...]:
        try:
            item: tuple[Any, ...] = self.results.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"no answer from the workers in {timeout:.0f} s") from None
        return item

    def run(self, jobs: list[tuple[str, int, Any]]) -> tuple[float, dict[int, Any]]:
        """Queue every job at once; wait for all; return (first queued -> last done, results)."""
        t0 = time.monotonic()
        for job in jobs:
            self.jobs.put(job)
        out: dict[int, Any] = {}
        last = t0
        while len(out) < len(jobs):
            kind, index, info = self._get(REQUEST_TIMEOUT_S)
            out[index] = info
            last = max(last, info["end"] if kind == "done" else time.monotonic())
        return last - t0, out

    def close(self) -> list[float]:
        """Stop the workers; their CPU seconds spent on requests."""
        cpu: list[float] = []
        for p in self.procs:
            if p.is_alive():
                self.jobs.put(None)
        for _ in [p for p in self.procs if p.is_alive()]:
            try:
                kind, _pid, seconds = self.results.get(timeout=60)
            except queue.Empty:
                break
            if kind == "cpu":
                cpu.append(seconds)
        for p in self.procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
        return cpu


def _summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    arr = np.asarray(values, dtype=np.float64)
    return {
        "mean": round(float(arr.mean()), 4),
        "median": round(float(np.median(arr)), 4),
        "p95": round(float(np.percentile(arr, 95)), 4),
    }


def _short_run(
    pool: WorkerPool, files: list[ShortFile], concurrency: int, coalesce: int = 0
) -> dict[str, Any]:
    """One request per file, or with ``coalesce`` files per request (coalesced requests)."""
    jobs: list[tuple[str, int, Any]]
    if coalesce > 0:
        groups = [files[i : i + coalesce] for i in range(0, len(files), coalesce)]
        jobs = [("coalesced", i, [str(f.path) for f in group]) for i, group in enumerate(groups)]
    else:
        jobs = [("request", i, str(f.path)) for i, f in enumerate(files)]
    busy0 = busy_s()
    wall, results = pool.run(jobs)
    busy1 = busy_s()
    cpu = pool.close()
    other = None
    if busy0 is not None and busy1 is not None and cpu:
        other = round(max(0.0, busy1 - busy0 - sum(cpu)) / (wall * usable_cpu_count()), 3)
    requests = [results[i] for i in range(len(jobs))]
    audio_s = sum(f.duration_s for f in files)
    overhead = [r["wall_s"] - sum(r["stages"][s] for s in MODEL_STAGES) for r in requests]
    stages = {s: _summary([r["stages"][s] for r in requests]) for s in STAGES}
    return {
        "concurrency": concurrency,
        **({"coalesce": coalesce} if coalesce > 0 else {}),
        "requests": len(requests),
        "errors": sum(len(r["file_errors"]) for r in requests),  # files that got no result
        "audio_s": round(audio_s, 3),
        "wall_s": round(wall, 3),  # first request queued -> last result
        "x_real_time": round(audio_s / wall, 2),
        "request_s": _summary([r["wall_s"] for r in requests]),
        "rtf": _summary([r["rtf"] for r in requests if r["rtf"] is not None]),
        "model_s": _summary([sum(r["stages"][s] for s in MODEL_STAGES) for r in requests]),
        "overhead_s": _summary(overhead),
        "stages_s": stages,
        "redecoded_windows": sum(r["calls"].get("redecoded_windows", 0) for r in requests),
        # decoder calls beyond each request's first: beam-5 retries and re-decoding rounds
        "extra_decoder_calls": sum(max(0, r["calls"].get("generate", 0) - 1) for r in requests),
        "worker_cpu_s": cpu,
        "cpu_utilisation": round(sum(cpu) / (wall * usable_cpu_count()), 3) if cpu else None,
        # share of the machine other processes used meanwhile: over a few % disturbed the timing
        "other_load": other,
        "load_s": pool.load_s,
        "texts": [text for r in requests for text in r["texts"]],
        "per_request": [
            {
                k: r[k]
                for k in (
                    "wall_s",
                    "stages",
                    "audio_s",
                    "rtf",
                    "chunks",
                    "input_format",
                    "error",
                    "file_errors",
                )
            }
            for r in requests
        ],
    }


def measure(
    files: list[ShortFile],
    model_dir: Path,
    concurrencies: list[int],
    environment: dict[str, str],
    concatenated: bool = True,
    ceiling: bool = True,
    coalesce: Sequence[int] = (COALESCE,),
    per_file: bool = True,
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
    checkpoint: Callable[[dict[str, Any]], None] = lambda report: None,
) -> dict[str, Any]:
    """Run the workload once per concurrency, one request per file (``per_file``) and with
    each of ``coalesce`` files per request, then the same audio as one file and the model's ceiling
    (with one worker); everything as plain data for ``bench.json``, handed to ``checkpoint``
    after every step (an interrupted run keeps what it measured)."""
    report: dict[str, Any] = {
        "files": [f.name for f in files],
        "references": [f.reference for f in files],
        "clips": len(files),
        "audio_s": round(sum(f.duration_s for f in files), 3),
        "mean_clip_s": round(statistics.mean(f.duration_s for f in files), 3),
        "formats": _formats(files),
        "runs": [],
    }
    groups = ([0] if per_file else []) + [g for g in coalesce if g > 0]
    if any(groups):
        report["coalesced"] = []
    warmup = files[0].path
    for c in concurrencies:
        for group in groups:
            key = "coalesced" if group else "runs"
            how = f"{group} files per request" if group else "one request per file"
            log(f"- short files: {len(files)} files, {how}, {c} at once")
            pool = WorkerPool(model_dir, c, warmup, environment)
            try:
                run = _short_run(pool, files, c, group)
            finally:
                pool.close()
            log(
                f"  {run['wall_s']:.1f} s for {run['audio_s']:.0f} s of audio: {run['x_real_time']:.1f}x "
                f"real time; request median {run['request_s']['median']:.2f} s, "
                f"overhead {run['overhead_s']['median']:.2f} s"
            )
            report[key].append(run)
            checkpoint(report)
    if concatenated or ceiling:
        _one_file_and_ceiling(report, files, model_dir, environment, concatenated, ceiling, log, checkpoint)
    for run in report["runs"] + report.get("coalesced", []):
        if "concatenated" in report:
            run["vs_concatenated"] = round(run["x_real_time"] / report["concatenated"]["x_real_time"], 3)
        if "ceiling" in report:
            run["vs_ceiling"] = round(run["x_real_time"] / report["ceiling"]["x_real_time"], 3)
    per_file_runs = {run["concurrency"]: run for run in report["runs"]}
    for run in report.get("coalesced", []):
        if run["concurrency"] in per_file_runs:
            run["vs_per_file"] = round(
                run["x_real_time"] / per_file_runs[run["concurrency"]]["x_real_time"], 3
            )
    return report


def _one_file_and_ceiling(
    report: dict[str, Any],
    files: list[ShortFile],
    model_dir: Path,
    environment: dict[str, str],
    concatenated: bool,
    ceiling: bool,
    log: Callable[[str], None],
    checkpoint: Callable[[dict[str, Any]], None],
) -> None:
    """The same audio as one file, and the model's ceiling, with one worker, into ``report``."""
    pool = WorkerPool(model_dir, 1, files[0].path, environment)
    try:
        if concatenated:
            body, clip_s = concatenate(files)
            with tempfile.TemporaryDirectory(prefix="twi-bench-short-") as tmp:
                path = Path(tmp) / "concatenated.flac"
                path.write_bytes(body)
                log(f"- the same audio as one file ({clip_s:.0f} s of clips, {GAP_S:g} s gaps)")
                wall, results = pool.run([("request", 0, str(path))])
            one = results[0]
            report["concatenated"] = {
                "audio_s": round(clip_s, 3),
                "file_s": one["audio_s"],
                "wall_s": round(wall, 3),
                "x_real_time": round(clip_s / wall, 2),
                "stages_s": one["stages"],
                "chunks": one["chunks"],
                "error": one["error"],
                "text": " ".join(one["texts"]),
            }
            log(f"  {wall:.1f} s: {clip_s / wall:.1f}x real time")
            checkpoint(report)
        if ceiling:
            log("- the model's ceiling: every clip its own window, features + encoder + decoder")
            wall, results = pool.run([("ceiling", 0, [str(f.path) for f in files])])
            info = results[0]
            if info is not None:
                audio_s = sum(f.duration_s for f in files)
                report["ceiling"] = {**info, "x_real_time": round(audio_s / info["wall_s"], 2)}
                log(f"  {info['wall_s']:.1f} s: {audio_s / info['wall_s']:.1f}x real time")
    finally:
        pool.close()


def _formats(files: list[ShortFile]) -> dict[str, int]:
    out: dict[str, int] = {}
    for f in files:
        ext = f.path.suffix.lstrip(".").lower()
        out[ext] = out.get(ext, 0) + 1
    return out


def score(report: dict[str, Any], model_dir: str | None) -> None:
    """WER of the per-request texts and of the one-file text, in place (same references)."""
    from twi_asr.scoring import word_error_rate

    reference = " ".join(r.strip() for r in report["references"])
    for run in report["runs"] + report.get("coalesced", []):
        run["wer"] = word_error_rate(reference, " ".join(run["texts"]), model_dir).as_dict()
    for key in ("concatenated", "ceiling"):
        if key in report:
            report[key]["wer"] = word_error_rate(reference, report[key]["text"], model_dir).as_dict()


def table(report: dict[str, Any]) -> str:
    """The short-files figures as text: one line per way of serving, then per-stage times."""
    lines = [
        f"short files: {report['clips']} clips, {report['audio_s']:.0f} s of audio "
        f"(mean {report['mean_clip_s']:.1f} s; "
        + ", ".join(f"{k} {v}" for k, v in report["formats"].items())
        + ")",
        f"{'how':34} {'wall s':>7} {'x RT':>6} {'vs one file':>11} {'vs ceiling':>10} {'vs per file':>11} "
        f"{'WER %':>6} {'req p50 s':>9} {'overhead p50 s':>14} {'CPU use':>7} {'others':>6}",
    ]
    runs = [(_how(run), run) for run in report["runs"] + report.get("coalesced", [])]
    for how, run in runs:
        wer = run.get("wer", {}).get("wer")
        vs_per_file = f"{run['vs_per_file']:.2f}" if "vs_per_file" in run else ""
        lines.append(
            f"{how + ', ' + str(run['concurrency']) + ' at once':34} {run['wall_s']:>7.1f} "
            f"{run['x_real_time']:>6.1f} {run.get('vs_concatenated', float('nan')):>11.2f} "
            f"{run.get('vs_ceiling', float('nan')):>10.2f} {vs_per_file:>11} {(wer or 0) * 100:>6.2f} "
            f"{run['request_s']['median']:>9.2f} {run['overhead_s']['median']:>14.2f} "
            f"{(run['cpu_utilisation'] or 0) * 100:>6.0f}% {_percent(run.get('other_load')):>6}"
        )
    concat = report.get("concatenated")
    ceiling = report.get("ceiling")
    for label, item in (("the same audio as one file", concat), ("ceiling: a window per clip", ceiling)):
        if item:
            wer = item.get("wer", {}).get("wer")
            lines.append(
                f"{label:34} {item['wall_s']:>7.1f} {item['x_real_time']:>6.1f} {'':>11} {'':>10} {'':>11} "
                f"{(wer or 0) * 100:>6.2f}"
            )
    if runs:
        lines.append("per request, mean seconds: " + "  ".join(STAGES))
        for how, run in runs:
            stages = "  ".join(f"{run['stages_s'][s]['mean']:.3f}" for s in STAGES)
            lines.append(f"  {how}, {run['concurrency']} at once: {stages}  = {run['request_s']['mean']:.3f}")
    return "\n".join(lines)


def _how(run: dict[str, Any]) -> str:
    return f"{run['coalesce']} files per request" if run.get("coalesce") else "one request per file"


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{share * 100:.0f}%"


def main(argv: list[str] | None = None) -> int:
    from twi_infra.paths import PROJECT_ROOT

    from twi_asr.default_model import default_model_dir

    shared = Path(os.environ.get("TWI_ASR_SHARED") or PROJECT_ROOT.parent / "shared")
    p = argparse.ArgumentParser(
        prog="python -m bench.short",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--shared", type=Path, default=shared)
    p.add_argument(
        "--n", type=int, default=100, help="files (clips, repeated and shuffled), one request each"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--concurrency",
        default=None,
        help="comma-separated requests at once (model-server workers); default: the container's; "
        "0: none (only the one-file run and the ceiling)",
    )
    p.add_argument(
        "--coalesce",
        default=str(COALESCE),
        help=f"comma-separated: also send the files in coalesced requests of this many each "
        f"(default {COALESCE}; 0: skip)",
    )
    p.add_argument("--no-per-file", action="store_true", help="skip the one-request-per-file runs")
    p.add_argument("--model", type=Path, default=None, help="default: the offline Whisper base (CTranslate2)")
    p.add_argument("--no-concatenated", action="store_true", help="skip the one-file run")
    p.add_argument("--no-ceiling", action="store_true", help="skip the model's ceiling")
    p.add_argument("--out", type=Path, default=None, help="write the report (JSON) here")
    args = p.parse_args(argv)
    data = args.shared / "data"
    try:
        files = short_workload(data, args.n, args.seed)  # its clips read once
    except FileNotFoundError as e:
        print(f"the short-files workload needs ../shared/data: {e}", file=sys.stderr)
        return 2
    concurrencies = (
        [int(c) for c in args.concurrency.split(",") if c.strip() and int(c) > 0]
        if args.concurrency
        else [container_concurrency()]
    )  # "0": only the one-file run and the ceiling
    hf_dir = args.shared / "models" / "whisper-base"
    coalesce = [int(g) for g in args.coalesce.split(",") if g.strip() and int(g) > 0]
    settings = {"n": args.n, "seed": args.seed, "concurrency": concurrencies, "coalesce": coalesce}

    def write(report: dict[str, Any]) -> None:
        score(report, str(hf_dir) if hf_dir.is_dir() else None)
        report["machine"], report["settings"] = description(), settings
        if args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")

    report = measure(
        files,
        args.model or default_model_dir(),
        concurrencies,
        worker_environment(),
        concatenated=not args.no_concatenated,
        ceiling=not args.no_ceiling,
        coalesce=coalesce,
        per_file=not args.no_per_file,
        checkpoint=write,
    )
    write(report)
    print(table(report))
    return 0 if all(run["errors"] == 0 for run in report["runs"] + report.get("coalesced", [])) else 1


def worker_environment() -> dict[str, str]:
    """The container's environment (``twi_infra.runtime_values.model_environment``): the
    language comes with each request, as the issue's measurement sent it."""
    from twi_infra.config import StackSettings
    from twi_infra.runtime_values import model_environment

    deployed = StackSettings()
    return model_environment(
        region=deployed.region,
        language=None,
        task=deployed.task,
        hf_model_id=None,
        workers=deployed.max_concurrent_invocations_per_instance,
    )


if __name__ == "__main__":
    raise SystemExit(main())
