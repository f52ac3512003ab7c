"""One benchmark contender in its own process: ``python -m bench.worker ...``.

A fresh process per contender keeps the numbers clean: the cold load time includes nothing
another contender already imported or cached, and the peak RSS (``ru_maxrss``) and peak GPU
memory are this contender's alone.

Contenders (all Whisper base, the same OpenAI weights):

* ``baseline_a``: the seed's approach, transformers ``pipeline("automatic-speech-recognition",
  chunk_length_s=30, batch_size=1)``; FP32 on CPU, FP16 on CUDA;
* ``transformers``: our transformers engine with its defaults (``twi_endpoint.hf_engine``);
* ``ctranslate2``: our CTranslate2 engine with its defaults (``twi_endpoint.ct2_engine``), its
  CPU encoder chosen as the endpoint chooses it (``TWI_ASR_CPU_ENCODER``: ``ctranslate2``
  measures a CPU without bfloat16 on any CPU);
* ``faster_whisper_batched``: the peer, faster-whisper's ``BatchedInferencePipeline`` called
  directly with its defaults (same int8/float16 compute type as ours, so only the method differs);
* ``faster_whisper``: the second peer, faster-whisper's sequential ``WhisperModel.transcribe``
  with its defaults and its VAD filter on: the accuracy-and-timestamps reference users know.

Each contender returns its text and its segments (start, end, text), for the timing error.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from twi_endpoint.types import SAMPLE_RATE

LANGUAGE = "en"  # every contender is told the language: no detection differences
CONTENDERS = ("baseline_a", "transformers", "ctranslate2", "faster_whisper_batched", "faster_whisper")

TimedText = tuple[str, list[tuple[float, float, str]]]  # text, segments (start, end, text)
Transcriber = Callable[[np.ndarray], TimedText]


@dataclass
class Loaded:
    transcribe: Transcriber
    device: str
    dtype: str
    batch_size: int | None
    model: str
    notes: list[str] = field(default_factory=list)


# --- contenders -----------------------------------------------------------------------------
def _load_baseline_a(hf_dir: Path, ct2_dir: Path, device: str, batch_size: int | None) -> Loaded:
    import torch
    from transformers import pipeline

    dtype = torch.float16 if device == "cuda" else torch.float32
    pipe = pipeline(
        "automatic-speech-recognition",
        model=str(hf_dir),
        chunk_length_s=30,
        batch_size=batch_size or 1,
        device=device,
        torch_dtype=dtype,
    )

    def run(audio: np.ndarray) -> TimedText:
        out = pipe(audio.copy(), generate_kwargs={"language": LANGUAGE, "task": "transcribe"})
        return (str(out["text"]) if isinstance(out, dict) else str(out)), []  # no times asked

    return Loaded(run, device, str(dtype).removeprefix("torch."), batch_size or 1, hf_dir.name)


def _load_engine(engine: Any, model_dir: Path) -> Loaded:
    from twi_endpoint.types import DecodeOptions

    options = DecodeOptions(language=LANGUAGE)

    def run(audio: np.ndarray) -> TimedText:
        result = engine.transcribe(audio, options)
        return str(result.text), [(s.start, s.end, s.text) for s in result.segments]

    beam = engine.beam_size
    dtype = engine.dtype if beam == 1 else f"{engine.dtype}, beam {beam}"  # the table says what ran
    return Loaded(run, engine.device, dtype, engine.batch_size, model_dir.name)


def _load_transformers(hf_dir: Path, ct2_dir: Path, device: str, batch_size: int | None) -> Loaded:
    from twi_endpoint.hf_engine import load_transformers_engine
    from twi_endpoint.settings import EndpointSettings

    beam = EndpointSettings.from_env().beam_size  # as the endpoint takes it (TWI_ASR_BEAM_SIZE)
    engine = load_transformers_engine(hf_dir, device=device, batch_size=batch_size, beam_size=beam)
    return _load_engine(engine, hf_dir)


def _load_ctranslate2(hf_dir: Path, ct2_dir: Path, device: str, batch_size: int | None) -> Loaded:
    from twi_endpoint.ct2_engine import load_ctranslate2_engine
    from twi_endpoint.settings import EndpointSettings

    settings = EndpointSettings.from_env()  # as the endpoint takes them
    engine = load_ctranslate2_engine(
        ct2_dir,
        device=device,
        batch_size=batch_size,
        cpu_encoder=settings.cpu_encoder,
        beam_size=settings.beam_size,
    )
    return _load_engine(engine, ct2_dir)


def _load_peer(hf_dir: Path, ct2_dir: Path, device: str, batch_size: int | None) -> Loaded:
    from faster_whisper import BatchedInferencePipeline, WhisperModel
    from twi_endpoint.segmentation import usable_cpu_count

    compute_type = "float16" if device == "cuda" else "int8"
    model = WhisperModel(
        str(ct2_dir), device=device, compute_type=compute_type, cpu_threads=usable_cpu_count()
    )
    pipe = BatchedInferencePipeline(model)
    size = batch_size or 8  # BatchedInferencePipeline.transcribe's default

    def run(audio: np.ndarray) -> TimedText:
        segments, _info = pipe.transcribe(audio, language=LANGUAGE, batch_size=size)
        return _joined([(s.start, s.end, s.text.strip()) for s in segments])

    return Loaded(run, device, str(model.model.compute_type), size, ct2_dir.name)


def _load_sequential_peer(hf_dir: Path, ct2_dir: Path, device: str, batch_size: int | None) -> Loaded:
    from faster_whisper import WhisperModel
    from twi_endpoint.segmentation import usable_cpu_count

    compute_type = "float16" if device == "cuda" else "int8"
    model = WhisperModel(
        str(ct2_dir), device=device, compute_type=compute_type, cpu_threads=usable_cpu_count()
    )

    def run(audio: np.ndarray) -> TimedText:
        segments, _info = model.transcribe(audio, language=LANGUAGE, vad_filter=True)
        return _joined([(s.start, s.end, s.text.strip()) for s in segments])

    return Loaded(run, device, str(model.model.compute_type), 1, ct2_dir.name)


def _joined(segments: list[tuple[float, float, str]]) -> TimedText:
    return " ".join(text for _, _, text in segments), segments


LOADERS: dict[str, Callable[[Path, Path, str, int | None], Loaded]] = {
    "baseline_a": _load_baseline_a,
    "transformers": _load_transformers,
    "ctranslate2": _load_ctranslate2,
    "faster_whisper_batched": _load_peer,
    "faster_whisper": _load_sequential_peer,
}


# --- measurement ----------------------------------------------------------------------------
class GpuMemorySampler:
    """Peak GPU memory of this process, sampled with nvidia-smi (covers CTranslate2 too,
    which has no allocator statistics), merged with torch's own peak when torch is in use."""

    def __init__(self, interval_s: float = 0.2) -> None:
        self.peak_mb = 0.0
        self._interval = interval_s
        self._stop = threading.Event()
        self._exe = shutil.which("nvidia-smi")
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> GpuMemorySampler:
        if self._exe:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        pid = str(os.getpid())
        query = [str(self._exe), "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"]
        while not self._stop.wait(self._interval):
            try:
                out = subprocess.run(query, capture_output=True, text=True, timeout=5).stdout
            except (OSError, subprocess.SubprocessError):
                return
            for line in out.splitlines():
                parts = [p.strip() for p in line.split(",")]
                if len(parts) == 2 and parts[0] == pid and parts[1].isdigit():
                    self.peak_mb = max(self.peak_mb, float(parts[1]))


def _torch_peak_mb() -> float:
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return 0.0
    return float(torch.cuda.max_memory_allocated()) / 2**20


def measure(args: argparse.Namespace) -> dict[str, Any]:
    inputs = json.loads(Path(args.inputs, "inputs.json").read_text(encoding="utf-8"))
    audios = {item["name"]: np.load(Path(args.inputs, item["file"])) for item in inputs}
    budget_end = time.perf_counter() + args.budget_s
    with GpuMemorySampler() as gpu:
        t0 = time.perf_counter()
        loaded = LOADERS[args.contender](
            Path(args.hf_model), Path(args.ct2_model), args.device, args.batch_size
        )
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        loaded.transcribe(audios[inputs[0]["name"]][: SAMPLE_RATE * 5])  # warm-up: first-call allocations
        if args.device == "cuda":
            # Every new batch shape pays one-off kernel selection and allocations on a GPU
            # (measured: seconds per shape for transformers). A serving endpoint pays that once;
            # one untimed pass over each input measures the endpoint as it serves.
            for item in inputs:
                loaded.transcribe(audios[item["name"]])
        warmup_s = time.perf_counter() - t0
        results: dict[str, Any] = {}
        for item in inputs:
            audio = audios[item["name"]]
            walls: list[float] = []
            text = ""
            segments: list[tuple[float, float, str]] = []
            for i in range(args.runs):
                if i > 0 and time.perf_counter() + min(walls) > budget_end:
                    break  # keep the whole benchmark inside its time limit: fewer runs, noted
                start = time.perf_counter()
                text, segments = loaded.transcribe(audio)
                walls.append(time.perf_counter() - start)
                print(f"  {args.contender} {item['name']} run {i + 1}: {walls[-1]:.1f} s", file=sys.stderr)
            results[item["name"]] = {"wall_s": walls, "text": text, "segments": segments}
    return {
        "contender": args.contender,
        "device": loaded.device,
        "dtype": loaded.dtype,
        "batch_size": loaded.batch_size,
        "model": loaded.model,
        "load_s": round(load_s, 3),  # cold: the engine's library imports + model load
        "warmup_s": round(warmup_s, 3),  # untimed first pass(es), see measure()
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_gpu_mb": round(max(gpu.peak_mb, _torch_peak_mb()), 1) or None,
        "inputs": results,
        "notes": loaded.notes,
    }


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--contender", required=True, choices=CONTENDERS)
    p.add_argument("--inputs", required=True, help="folder with inputs.json and the .npy audio")
    p.add_argument("--hf-model", required=True)
    p.add_argument("--ct2-model", required=True)
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--budget-s", type=float, default=1e9, help="no new run starts after this")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    result = measure(args)
    result["process_s"] = round(time.perf_counter() - started, 3)
    Path(args.out).write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
