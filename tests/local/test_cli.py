"""`twi-asr local up` in one process, `put`/`results`/`status` from others, as a user runs them."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from twi_asr.local.config import STATE_FILE_NAME

CLI = [sys.executable, "-m", "twi_asr.cli", "local"]
START_TIMEOUT_S = 120


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def local_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    workdir = tmp_path_factory.mktemp("cli-stack")
    process = subprocess.Popen(
        [*CLI, "up", "--workdir", str(workdir)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while not (workdir / STATE_FILE_NAME).is_file():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"`twi-asr local up` did not start: {process.communicate()}")
        time.sleep(0.2)
    yield workdir, process
    if process.poll() is None:
        process.kill()
        process.communicate()


def test_put_waits_for_and_prints_the_transcript(local_up: tuple[Path, subprocess.Popen[str]]) -> None:
    workdir, _ = local_up
    clip = Path(__file__).parents[1] / "data" / "librivox_0880.wav"
    done = run("put", str(clip), "--prefix", "mine/Ɔkɔmfo", "--wait", "--workdir", str(workdir))
    assert done.returncode == 0, done.stderr
    assert "uploaded s3://" in done.stderr and "audio/mine/Ɔkɔmfo/librivox_0880.wav" in done.stderr
    assert "transcripts/mine/Ɔkɔmfo/librivox_0880.wav.json" in done.stdout
    # the clip's transcript ("ill-disposed" or "ill-sposed": whisper-base is on the edge there)
    assert "he was not an ill" in done.stdout.lower() and "young man" in done.stdout.lower()

    listed = run("results", "--json", "--workdir", str(workdir))
    assert listed.returncode == 0
    document = json.loads(listed.stdout)
    assert document["source"]["key"] == "audio/mine/Ɔkɔmfo/librivox_0880.wav"

    status = run("status", "--workdir", str(workdir))
    assert status.returncode == 0
    assert "twi-asr-submit-dlq" in status.stdout and "AWS_ENDPOINT_URL=http://127.0.0.1:" in status.stdout


def test_up_stops_cleanly_on_sigterm(local_up: tuple[Path, subprocess.Popen[str]]) -> None:
    workdir, process = local_up
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "local stack stopped" in err
    assert not (workdir / STATE_FILE_NAME).exists()
    assert sorted(p.name for p in workdir.iterdir()) == ["bucket", "logs"]  # the kept bucket, the logs


def test_put_without_a_running_stack_says_so(tmp_path: Path) -> None:
    clip = Path(__file__).parents[1] / "data" / "jfk.mp3"
    result = run("put", str(clip), "--workdir", str(tmp_path))
    assert result.returncode == 2
    assert "no local stack is running" in result.stderr and "twi-asr local up" in result.stderr
