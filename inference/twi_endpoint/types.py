"""Plain data shared by the audio front end, the engines and the handler.

Kept free of torch/transformers/ctranslate2 imports so that anything (the CLI, the
Lambda contract tests, the benchmark) can use these types without loading a model stack.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

SAMPLE_RATE = 16_000  # Hz: Whisper's input rate
CHUNK_SECONDS = 30  # Whisper's fixed receptive window
N_SAMPLES = SAMPLE_RATE * CHUNK_SECONDS  # 480000 samples in a 30-second chunk


@dataclass(frozen=True)
class DecodeOptions:
    """What to decode, per request. ``language=None`` means the model's own detection.

    A fine-tuned Twi checkpoint has no Twi language token, so a deployment sets the
    language (or leaves it None on purpose) in configuration; it is never guessed silently:
    the result always records what was used.
    """

    language: str | None = None
    task: str = "transcribe"  # or "translate"


@dataclass(frozen=True)
class Segment:
    start: float  # seconds from the start of the recording
    end: float  # seconds
    text: str


@dataclass
class Transcription:
    """What an engine returns for one recording."""

    text: str
    language: str | None
    segments: list[Segment] = field(default_factory=list)
    chunks: int = 0  # windows actually decoded (after silence skipping)
    language_source: str = "config"  # "config", "request" or "detected"


class Engine(Protocol):
    """One loaded model. Loaded once per process, reused by every request."""

    name: str  # "transformers" or "ctranslate2"
    model_name: str  # directory name or model id, for the result metadata
    device: str  # "cuda" or "cpu": what really runs
    dtype: str  # "float16", "float32", "int8", "int8_float16": what really runs
    batch_size: int

    def transcribe(self, audio: np.ndarray, options: DecodeOptions) -> Transcription:
        """Transcribe mono float32 audio at ``SAMPLE_RATE`` of any length."""
        ...
