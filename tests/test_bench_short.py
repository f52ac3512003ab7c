"""The short-files workload of the benchmark (``bench.short``, ``bench.flow``): cheap checks of
its workload, its stage accounting and a tiny run of the whole flow; no timed assertion.
A run of ``bench.short`` itself is part of the quick bench (tests/test_bench_smoke.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench.short import (
    SHORT_MAX_S,
    SHORT_MIN_S,
    STAGES,
    StageTimer,
    concatenate,
    container_concurrency,
    short_clips,
    short_workload,
    table,
)

ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = ROOT.parent / "shared"  # as in conftest.py
SHARED_DATA = SHARED_DIR / "data"


def test_stage_times_are_exclusive(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a clock the test moves (a sleep on a loaded machine overran 0.02 s to 0.06 s)."""
    now = [0.0]
    monkeypatch.setattr("bench.short.time", SimpleNamespace(perf_counter=lambda: now[0]))
    timer = StageTimer()

    class Engine:
        def transcribe(self) -> None:
            now[0] += 0.02
            self.encode()

        def encode(self) -> None:
            now[0] += 0.05

    timer.wrap(Engine, "transcribe", "timeline")
    timer.wrap(Engine, "encode", "encode")
    Engine().transcribe()
    # the engine's own time leaves out the encoder it called: the stages add up
    assert timer.totals == pytest.approx({"encode": 0.05, "timeline": 0.02})
    assert timer.counts == {"timeline": 1, "encode": 1}
    timer.reset()
    assert timer.totals == {} and timer.counts == {}


def test_concurrency_is_what_the_container_takes_at_once() -> None:
    from twi_infra.config import StackSettings
    from twi_infra.runtime_values import model_environment

    env = model_environment(region="eu-west-1", language=None, task="transcribe", hf_model_id=None)
    workers = int(env["SAGEMAKER_MODEL_SERVER_WORKERS"])
    assert container_concurrency() == min(StackSettings().max_concurrent_invocations_per_instance, workers)


@pytest.mark.shared
def test_workload_is_short_english_clips_in_upload_formats() -> None:
    pool = short_clips(SHARED_DATA)
    assert len(pool) >= 20
    assert all(SHORT_MIN_S <= c.duration_s <= SHORT_MAX_S and c.reference.strip() for c in pool)
    assert not any(c.path.name.startswith("mls-") for c in pool)  # the Spanish reading
    assert {c.path.suffix for c in pool} >= {".wav", ".flac", ".mp3", ".ogg", ".m4a", ".webm"}
    a = short_workload(SHARED_DATA, 60, seed=1)
    assert a == short_workload(SHARED_DATA, 60, seed=1) and len(a) == 60
    assert a != short_workload(SHARED_DATA, 60, seed=2)
    assert set(a[: len(pool)]) == set(pool)  # every clip once before any repeats


@pytest.mark.shared
def test_concatenated_file_holds_every_clip_and_its_gaps() -> None:
    import io

    import soundfile as sf

    files = short_workload(SHARED_DATA, 3, seed=0)
    body, clip_s = concatenate(files)
    audio, rate = sf.read(io.BytesIO(body), dtype="float32")
    assert rate == 16_000
    assert clip_s == pytest.approx(sum(f.duration_s for f in files), abs=0.2)
    assert audio.size / rate == pytest.approx(clip_s + 3 * 1.0, abs=0.01)  # a 1 s gap before each clip


def test_table_reads_a_report() -> None:
    stages = {s: {"mean": 0.1, "median": 0.1, "p95": 0.1} for s in STAGES}
    run = {
        "concurrency": 2,
        "wall_s": 10.0,
        "x_real_time": 5.0,
        "vs_concatenated": 0.5,
        "vs_ceiling": 0.8,
        "wer": {"wer": 0.05},
        "request_s": {"median": 1.5, "mean": 1.6},
        "overhead_s": {"median": 0.2},
        "cpu_utilisation": 0.95,
        "stages_s": stages,
    }
    coalesced = {**run, "coalesce": 10, "x_real_time": 7.5, "vs_per_file": 1.5}
    report = {
        "clips": 4,
        "audio_s": 50.0,
        "mean_clip_s": 12.5,
        "formats": {"wav": 4},
        "runs": [run],
        "coalesced": [coalesced],
        "concatenated": {"wall_s": 5.0, "x_real_time": 10.0, "wer": {"wer": 0.04}},
    }
    text = table(report)
    assert "2 at once" in text and "the same audio as one file" in text
    assert "10 files per request, 2 at once" in text and " 1.50 " in text
    assert "ceiling: a window per clip" not in text  # no ceiling measured, no line for it


@pytest.mark.shared
@pytest.mark.timeout(300)
def test_whole_flow_runs_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "flow.json"
    command = [sys.executable, "-m", "bench.flow", "--n", "2", "--concurrency", "1", "--out", str(out)]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=290)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = json.loads(out.read_text(encoding="utf-8"))["runs"]
    assert (run["uploads"], run["failed"]) == (2, 0)
    assert run["wall_s"] > 0 and run["endpoint_s"] > 0 and run["median_rtf"] > 0
    assert run["stack_cpu_s"] > 0 and 0 < run["stack_share"] <= 1  # moto etc. did answer


def test_short_files_say_what_is_missing_without_shared(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "bench.short", "--shared", str(tmp_path / "nowhere")]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "needs ../shared" in proc.stderr
