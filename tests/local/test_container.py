"""The local container answers a failing request as the HF toolkit does: 400 and the message,
whatever the error (``HuggingFaceHandlerService.handle`` wraps every exception that way)."""

from __future__ import annotations

import pytest
from twi_endpoint.errors import AudioTooLongError

from twi_asr.local import container


class _Failing:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def invoke(self, *args: object, **kwargs: object) -> bytes:
        raise self.error


@pytest.mark.parametrize(
    "error", [AudioTooLongError("audio too long: 5 h is over 4 h"), RuntimeError("CUDA out of memory")]
)
def test_every_handler_error_answers_400(monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    monkeypatch.setattr(container, "_model", _Failing(error))
    answer = container._invoke(b"audio", "audio/wav", "", "application/json")
    assert answer == (False, (400, type(error).__name__, str(error)))
