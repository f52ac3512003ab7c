"""The user's side against the offline local stack: `twi-asr submit/invoke/results` and the
README's boto3 snippets, run as a user runs them (subprocesses, files on disk)."""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import srt

from twi_asr.local.config import ENV_WORKDIR, FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY
from twi_asr.local.stack import LocalStack
from twi_asr.scoring import word_error_rate

ROOT = Path(__file__).resolve().parents[2]
TWI_ASR = [sys.executable, "-m", "twi_asr.cli"]


@pytest.fixture(scope="module")
def stack(ct2_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    workdir = tmp_path_factory.mktemp("client-stack")
    with LocalStack(model_dir=ct2_model_dir, workdir=workdir) as running:
        yield running


@pytest.fixture(scope="module")
def cli_env(stack: LocalStack) -> dict[str, str]:
    """The environment of a user's shell next to `twi-asr local up`: only the work dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env[ENV_WORKDIR] = str(stack.workdir)
    return env


@pytest.fixture(scope="module")
def aws_env(stack: LocalStack, cli_env: dict[str, str]) -> dict[str, str]:
    """What a user exports to point plain boto3 at the stack (as for a deployed one)."""
    assert stack.state is not None
    return {
        **cli_env,
        "AWS_ENDPOINT_URL": stack.state.aws_endpoint_url,
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": stack.state.sagemaker_runtime_url,
        "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_ACCESS_KEY,
        "AWS_DEFAULT_REGION": stack.state.region,
        "TWI_ASR_BUCKET": stack.state.bucket,
        "TWI_ASR_ENDPOINT": stack.state.endpoint_name,
    }


def run(args: list[str], env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def wer(reference: str, hypothesis: str) -> float:
    return word_error_rate(reference, hypothesis).wer


def test_submit_wait_prints_three_transcripts(cli_env: dict[str, str], data_clips: dict[str, Any]) -> None:
    files = ["jfk.mp3", "librivox_0880.wav", "librivox_0870.wav"]
    paths = [str(data_clips[f].path) for f in files]
    done = run([*TWI_ASR, "submit", "--local", "--wait", "--format", "text", *paths], cli_env)
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(": ", 1) for line in done.stdout.strip().splitlines())
    assert sorted(lines) == sorted(f"audio/{f}" for f in files)
    for name in files:
        # whisper-base on these clean clips: measured WER 0.0 each; 0.15 leaves room for punctuation
        assert wer(data_clips[name].reference, lines[f"audio/{name}"]) <= 0.15, lines
    assert done.stderr.count("done: audio/") == 3  # the progress lines, one per file


def test_invoke_matches_the_s3_triggered_path(
    stack: LocalStack, cli_env: dict[str, str], data_clips: dict[str, Any]
) -> None:
    clip = data_clips["jfk.opus"].path
    direct = run([*TWI_ASR, "invoke", "--local", "--words", str(clip)], cli_env)
    assert direct.returncode == 0, direct.stderr
    invoked = json.loads(direct.stdout)
    assert all(s["words"] for s in invoked["segments"])  # --words: words=true reached the endpoint

    via_bucket = run([*TWI_ASR, "submit", "--local", "--wait", str(clip)], cli_env)
    assert via_bucket.returncode == 0, via_bucket.stderr
    stored = json.loads(via_bucket.stdout)

    assert invoked["transcript"] == stored["transcript"]
    assert not any("words" in s for s in stored["segments"])  # off unless asked
    assert "ask not what your country can do for you" in invoked["transcript"].lower()
    assert stored["source"]["key"] == "audio/jfk.opus"
    assert invoked["metadata"]["rtf"] == pytest.approx(
        invoked["metadata"]["processing_time_sec"] / invoked["metadata"]["audio_duration_sec"]
    )
    # the direct path must not also have started the bucket flow for its input
    keys = [o["Key"] for o in stack.s3.list_objects_v2(Bucket=stack.bucket).get("Contents", [])]
    assert not [k for k in keys if k.startswith("transcripts/") and "async-input" in k]


def test_corrupt_file_fails_readably_with_nonzero_exit(cli_env: dict[str, str], tmp_path: Path) -> None:
    corrupt = tmp_path / "broken call.mp3"
    corrupt.write_bytes(random.Random(3).randbytes(8000))

    submitted = run([*TWI_ASR, "submit", "--local", "--wait", "--format", "text", str(corrupt)], cli_env)
    assert submitted.returncode == 1
    assert "FAILED" in submitted.stdout
    assert "could not decode 'broken call.mp3'" in submitted.stdout

    invoked = run([*TWI_ASR, "invoke", "--local", str(corrupt)], cli_env)
    assert invoked.returncode == 1
    assert "could not decode 'broken call.mp3'" in invoked.stderr
    assert "Traceback" not in invoked.stderr


def test_results_srt_are_valid_subtitles(
    cli_env: dict[str, str], data_clips: dict[str, Any], tmp_path: Path
) -> None:
    clip = data_clips["librivox_0870.wav"]
    submitted = run([*TWI_ASR, "submit", "--local", "--wait", "--words", str(clip.path)], cli_env)
    assert submitted.returncode == 0, submitted.stderr
    words = [w for s in json.loads(submitted.stdout)["segments"] for w in s["words"]]  # x-amz-meta-words

    out = tmp_path / "subs"
    listed = run(
        [*TWI_ASR, "results", "--local", "librivox_0870", "--format", "srt", "--out", str(out)], cli_env
    )
    assert listed.returncode == 0, listed.stderr
    written = out / "transcripts" / "librivox_0870.wav.srt"
    cues = list(srt.parse(written.read_text(encoding="utf-8")))
    assert cues, "no subtitle cues"
    assert all(c.start < c.end for c in cues)
    assert all(a.end <= b.start for a, b in itertools.pairwise(cues))
    assert cues[-1].end.total_seconds() <= clip.duration_s + 0.5
    text = " ".join(c.content.replace("\n", " ") for c in cues)
    assert wer(clip.reference, text) <= 0.15
    assert all(len(line) <= 42 for c in cues for line in c.content.splitlines())
    # timed by the words: every cue starts where a word does (or, where the alignment has two
    # words overlap by a frame, where the cue before it ends)
    starts = {round(w["start"], 3) for w in words}
    assert round(cues[0].start.total_seconds(), 3) in starts
    pairs = itertools.pairwise(cues)
    assert all(round(b.start.total_seconds(), 3) in starts or b.start == a.end for a, b in pairs)


def readme_python_snippets() -> list[str]:
    """The ```python blocks of the README's "Use it" section, verbatim."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Use it", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_readme_has_the_snippets() -> None:
    snippets = readme_python_snippets()
    assert len(snippets) == 3
    assert "invoke_endpoint_async" in snippets[1]
    assert "BATCH_CONTENT_TYPE" in snippets[2]


def test_readme_coalesced_request_snippet_runs_as_written(
    aws_env: dict[str, str], data_clips: dict[str, Any], tmp_path: Path
) -> None:
    """The third snippet continues the second: three files in one request, one answer each."""
    for clip, name in (("jfk.opus", "note.ogg"), ("jfk.opus", "note1.ogg"), ("sonnet1.m4a", "note2.m4a")):
        shutil.copyfile(data_clips[clip].path, tmp_path / name)
    shutil.copyfile(data_clips["librivox_0880.wav"].path, tmp_path / "call.wav")
    script = tmp_path / "snippet.py"
    snippets = readme_python_snippets()
    script.write_text(snippets[1] + snippets[2], encoding="utf-8")
    done = run([sys.executable, str(script)], aws_env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.lower().splitlines()
    by_file = {
        line.split(" ", 1)[0]: line
        for line in lines
        if line.split(" ", 1)[0] in {"note1.ogg", "note2.m4a", "call.wav"}
    }
    assert set(by_file) == {"note1.ogg", "note2.m4a", "call.wav"}
    assert "ask not what your country can do for you" in by_file["note1.ogg"]
    assert "young man" in by_file["call.wav"]


@pytest.mark.parametrize("index", [0, 1], ids=["upload-and-wait", "invoke-endpoint-async"])
def test_readme_snippet_runs_as_written(
    index: int, aws_env: dict[str, str], data_clips: dict[str, Any], tmp_path: Path
) -> None:
    shutil.copyfile(data_clips["jfk.opus"].path, tmp_path / "note.ogg")  # Ogg Opus, as WhatsApp sends
    script = tmp_path / "snippet.py"
    script.write_text(readme_python_snippets()[index], encoding="utf-8")
    done = run([sys.executable, str(script)], aws_env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "ask not what your country can do for you" in done.stdout.lower()
