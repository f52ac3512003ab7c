"""Handlers for testing the Lambda process emulation itself (the real ones run end to end)."""

from __future__ import annotations

import os
from typing import Any


def report_environment(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Say what the function's process sees."""
    return {
        "env": {name: os.environ.get(name) for name in event["names"]},
        "pid": os.getpid(),
        "function_name": context.function_name,
        "request_id": context.aws_request_id,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "echo": event.get("echo"),
    }


def crash(event: dict[str, Any], context: Any) -> None:
    print("about to fail")
    raise ValueError("boom: the handler failed")


def not_json(event: dict[str, Any], context: Any) -> object:
    return object()
