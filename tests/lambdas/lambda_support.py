"""Constants and helpers shared by the Lambda tests (kept out of conftest.py so that test
modules import them by a name no other test folder uses)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

REGION = "us-east-1"
BUCKET = "twi-asr-data-123456789012-us-east-1"
ENDPOINT = "twi-asr-whisper"


@dataclass
class Invocations:
    """What the functions sent to InvokeEndpointAsync, captured by a botocore event hook on
    the real client (the request still goes to moto)."""

    calls: list[dict[str, Any]] = field(default_factory=list)

    def capture(self, params: dict[str, Any], **_: Any) -> None:
        self.calls.append(dict(params))


@dataclass(frozen=True)
class LambdaContext:
    """What Powertools reads from the Lambda context (the local stack passes its own)."""

    function_name: str = "twi-asr-test"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:twi-asr-test"
    aws_request_id: str = "5d9e7f3a-1c2b-4d5e-8f90-a1b2c3d4e5f6"


CONTEXT = LambdaContext()
