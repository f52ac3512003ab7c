"""Lambda functions run in their own processes with their own environment, like on AWS."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from twi_asr.local.lambda_runtime import FunctionSpec, LambdaInvocationError, LocalFunction


def test_a_function_gets_its_own_process_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "someones-real-account")  # must never reach the function
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "https://example.invalid")
    spec = FunctionSpec(
        name="twi-asr-test",
        handler="local_lambda_doubles.report_environment",
        environment={"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "ENDPOINT_NAME": "e-1"},
        timeout_s=30,
        memory_mb=128,
        log_path=tmp_path / "logs" / "twi-asr-test.log",
    )
    function = LocalFunction(spec, concurrency=1)
    function.start()
    try:
        names = ["AWS_PROFILE", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "ENDPOINT_NAME"]
        result = function.invoke({"names": names, "echo": "Ɔkɔmfo ɛnnɛ"})
        again = function.invoke({"names": []})
    finally:
        function.stop()
    assert result["env"] == {
        "AWS_PROFILE": None,
        "AWS_ENDPOINT_URL_S3": None,
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "ENDPOINT_NAME": "e-1",
    }
    assert "ENDPOINT_NAME" not in os.environ  # nothing leaks back into the stack's process
    assert result["pid"] != os.getpid() and again["pid"] == result["pid"]  # a warm container
    assert result["function_name"] == "twi-asr-test"
    assert result["request_id"] != again["request_id"]
    assert 0 < result["remaining_ms"] <= 30_000
    assert result["echo"] == "Ɔkɔmfo ɛnnɛ"
    log = (tmp_path / "logs" / "twi-asr-test.log").read_text(encoding="utf-8")
    assert log.count("START RequestId:") == 2


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        ("local_lambda_doubles.crash", "ValueError: boom"),
        ("local_lambda_doubles.not_json", "not JSON serializable"),
    ],
)
def test_handler_errors_are_reported_and_logged(tmp_path: Path, handler: str, message: str) -> None:
    log_path = tmp_path / "f.log"
    function = LocalFunction(
        FunctionSpec(name="f", handler=handler, timeout_s=30, memory_mb=128, log_path=log_path), concurrency=1
    )
    function.start()
    try:
        with pytest.raises(LambdaInvocationError, match=message):
            function.invoke({"Records": []})
    finally:
        function.stop()
    assert "Traceback" in log_path.read_text(encoding="utf-8")


def test_a_missing_handler_fails_the_start() -> None:
    function = LocalFunction(
        FunctionSpec(name="f", handler="local_lambda_doubles.no_such_function", timeout_s=30, memory_mb=128),
        concurrency=1,
    )
    with pytest.raises(RuntimeError, match="has no function 'no_such_function'"):
        function.start()
    function.stop()
