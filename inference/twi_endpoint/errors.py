"""The endpoint's domain errors: one base class, one subclass per thing a caller can fix.

The HF inference toolkit turns *any* exception raised by ``input_fn``/``predict_fn`` into
``mms.service.PredictionException(str(exc), 400)``, so the caller receives ``str(exc)``
with a 400 status. That is why every message here is a complete sentence that names the
problem (``unsupported audio: could not decode 'x.m4a' (ffmpeg: moov atom not found)``)
rather than a bare code.
"""

from __future__ import annotations


class TwiAsrError(Exception):
    """Base of every error the caller can act on. ``str()`` is the message they see."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UnsupportedAudioError(TwiAsrError):
    """The body is not audio that ffmpeg or libsndfile can decode."""


class AudioTooShortError(TwiAsrError):
    """Too little audio to hold a word (Whisper would only invent text from it)."""


class AudioTooLongError(TwiAsrError):
    """Longer than the deployment's configured maximum duration."""


class InvalidRequestError(TwiAsrError):
    """Bad per-request options: language, task, custom attributes, accept type."""


class ModelLoadError(TwiAsrError):
    """The model directory is missing or in a format no engine reads."""
