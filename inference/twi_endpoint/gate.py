"""Silence/noise gate: Whisper invents text ("Thank you.", "Subtitles by...") on audio
without speech, so such audio never reaches the model; the result is an empty transcript.

Two stages, cheapest first: the loudest 30 ms frame below ``silence_dbfs`` is digital or
room silence (no model needed, fast even on hours of audio); otherwise, when faster-whisper
is installed, Silero VAD must find at least ``min_speech_seconds`` of speech, which rejects
hum, hiss and music-free noise that is loud but wordless.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

import numpy as np

from twi_endpoint.types import SAMPLE_RATE

logger = logging.getLogger(__name__)

FRAME_SAMPLES: Final = SAMPLE_RATE * 30 // 1000  # 480 samples = 30 ms
_FLOOR: Final = 1e-10  # avoids log10(0) on digital silence (= -200 dBFS)


@dataclass(frozen=True)
class GateDecision:
    has_speech: bool
    reason: str  # "speech", "silence" (energy) or "no speech" (VAD)
    peak_dbfs: float  # loudest 30 ms frame, dB relative to full scale
    speech_seconds: float | None  # what VAD found; None when VAD did not run
    method: str  # "energy" or "energy+vad"


def peak_frame_dbfs(audio: np.ndarray) -> float:
    """RMS level of the loudest 30 ms frame, in dBFS."""
    n = len(audio) // FRAME_SAMPLES
    if n == 0:
        rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if len(audio) else 0.0
    else:
        frames = audio[: n * FRAME_SAMPLES].reshape(n, FRAME_SAMPLES)
        rms = float(np.sqrt(np.max(np.einsum("ij,ij->i", frames, frames) / FRAME_SAMPLES)))
    return 20.0 * float(np.log10(max(rms, _FLOOR)))


def speech_seconds(audio: np.ndarray) -> float | None:
    """Seconds of speech Silero VAD finds (faster-whisper's bundled model); None without it."""
    try:
        from faster_whisper.vad import VadOptions, get_speech_timestamps
    except ImportError:
        return None
    spans = get_speech_timestamps(audio, VadOptions(min_silence_duration_ms=500, speech_pad_ms=0))
    return sum(s["end"] - s["start"] for s in spans) / SAMPLE_RATE


def check_speech(
    audio: np.ndarray, silence_dbfs: float, use_vad: bool, min_speech_seconds: float
) -> GateDecision:
    peak = peak_frame_dbfs(audio)
    if peak < silence_dbfs:
        return GateDecision(False, "silence", peak, None, "energy")
    if not use_vad:
        return GateDecision(True, "speech", peak, None, "energy")
    found = speech_seconds(audio)
    if found is None:
        logger.warning("faster-whisper is not installed: silence gate uses energy only")
        return GateDecision(True, "speech", peak, None, "energy")
    if found < min_speech_seconds:
        return GateDecision(False, "no speech", peak, found, "energy+vad")
    return GateDecision(True, "speech", peak, found, "energy+vad")
