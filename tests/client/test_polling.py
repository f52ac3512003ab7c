"""How often the client looks for a result: backing off towards a deployed stack (seconds to
minutes away), every quarter second on the local one (`twi-asr local put --wait`), where a
look is free and a result that waited for the next look made every upload seconds slower."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from twi_asr.client import FIRST_POLL_S, MAX_POLL_S, StackRef, TwiAsrClient
from twi_asr.local.config import RESULT_POLL_S
from twi_asr.local.moto_server import MotoServer
from twi_asr.local.state import LocalSession

REGION = "us-east-1"
BUCKET = "twi-asr-polling"
LOOKS_BEFORE_THE_RESULT = 9


@pytest.fixture(scope="module")
def session() -> Iterator[LocalSession]:
    with MotoServer() as server:
        local = LocalSession(server.url, server.url, REGION)
        local.client("s3").create_bucket(Bucket=BUCKET)
        yield local


def waits_before_the_result(
    session: LocalSession, monkeypatch: pytest.MonkeyPatch, name: str, **kwargs: float
) -> list[float]:
    """The pauses between looks for ``audio/<name>``'s result, written (to moto) during the last."""
    s3 = session.client("s3")
    key = f"polling/{name}"
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == LOOKS_BEFORE_THE_RESULT:
            s3.put_object(Bucket=BUCKET, Key=f"transcripts/{key}.json", Body=json.dumps({"transcript": "ok"}))

    monkeypatch.setattr("twi_asr.client.time.sleep", sleep)
    client = TwiAsrClient(StackRef(BUCKET, "twi-asr", REGION), session=session, **kwargs)
    result = client.wait_for_result(f"audio/{key}", timeout_s=3600)
    assert result.document == {"transcript": "ok"} and not result.failed
    return waits


def test_a_deployed_stack_is_looked_at_less_and_less_often(
    session: LocalSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits = waits_before_the_result(session, monkeypatch, "deployed.wav")
    assert len(waits) == LOOKS_BEFORE_THE_RESULT
    assert waits[0] == FIRST_POLL_S and waits == sorted(waits) and waits[-1] == MAX_POLL_S


def test_the_local_stack_is_looked_at_every_quarter_second(
    session: LocalSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits = waits_before_the_result(session, monkeypatch, "local.wav", max_poll_s=RESULT_POLL_S)
    assert waits == [RESULT_POLL_S] * LOOKS_BEFORE_THE_RESULT
