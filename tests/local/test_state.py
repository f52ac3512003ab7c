"""The state file that lets `twi-asr local put` find a stack started in another terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from twi_asr.local.config import STATE_FILE_NAME
from twi_asr.local.state import NoLocalStackError, StackState, activate_local_state


def make_state(workdir: Path, pid: int) -> StackState:
    return StackState(
        aws_endpoint_url="http://127.0.0.1:4566",
        sagemaker_runtime_url="http://127.0.0.1:4567",
        region="eu-west-1",
        bucket="twi-asr-local-bucket",
        endpoint_name="twi-asr-local",
        queues={"twi-asr-submit-queue": "http://127.0.0.1:4566/123456789012/twi-asr-submit-queue"},
        model_dir="/models/ɔkɔmfo",
        pid=pid,
        workdir=str(workdir),
    )


def test_round_trip_and_clients_point_at_the_stack(tmp_path: Path) -> None:
    written = make_state(tmp_path, os.getpid())
    written.write()
    state = StackState.read(tmp_path)
    assert state == written
    session = state.session()
    assert session.client("s3").meta.endpoint_url == "http://127.0.0.1:4566"
    assert session.client("sqs").meta.endpoint_url == "http://127.0.0.1:4566"
    assert session.client("sagemaker-runtime").meta.endpoint_url == "http://127.0.0.1:4567"
    credentials = session.get_credentials()
    assert credentials is not None and credentials.access_key == "testing"
    assert session.region_name == "eu-west-1"


def test_activate_sets_this_process_environment_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_state(tmp_path, os.getpid()).write()
    names = ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", "AWS_ACCESS_KEY_ID"]
    names += ["AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_DEFAULT_REGION"]
    for name in names:  # recorded by monkeypatch, so the test's changes are undone afterwards
        monkeypatch.setenv(name, "before")
    monkeypatch.setenv("AWS_PROFILE", "real-account")
    state = activate_local_state(tmp_path)
    assert state.bucket == "twi-asr-local-bucket"
    assert "AWS_PROFILE" not in os.environ
    assert os.environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
    assert os.environ["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] == "http://127.0.0.1:4567"


def test_missing_dead_or_garbled_state_is_explained(tmp_path: Path) -> None:
    with pytest.raises(NoLocalStackError, match="twi-asr local up"):
        StackState.read(tmp_path)
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    make_state(tmp_path, int(finished.stdout)).write()
    with pytest.raises(NoLocalStackError, match="not running any more"):
        StackState.read(tmp_path)
    (tmp_path / STATE_FILE_NAME).write_text(json.dumps({"bucket": "x"}))
    with pytest.raises(NoLocalStackError, match="not a local stack state file"):
        StackState.read(tmp_path)
    (tmp_path / STATE_FILE_NAME).write_text("{half")
    with pytest.raises(NoLocalStackError, match="no readable"):
        StackState.read(tmp_path)
