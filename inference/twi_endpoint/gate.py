"""Silence/noise gate: Whisper invents text ("Thank you.", "Subtitles by...") on audio
without speech, so such audio never reaches the model; the result is an empty transcript.

Two stages, cheapest first: the loudest 30 ms frame below ``silence_dbfs`` is digital or
room silence (no model needed, fast even on hours of audio); otherwise, when faster-whisper
is installed, Silero VAD must find at least ``min_speech_seconds`` of speech, which rejects
hum, hiss and music-free noise that is loud but wordless.

The VAD runs once per request: the decision carries it (:class:`VoiceActivity`) to the
engine, which cuts its windows and checks its coverage with the same probabilities.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

import numpy as np

from twi_endpoint.segmentation import VoiceActivity, detect_speech, frame_power
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
    activity: VoiceActivity | None = None  # the request's VAD, handed on to the engine


def peak_frame_dbfs(audio: np.ndarray) -> float:
    """RMS level of the loudest 30 ms frame, in dBFS."""
    power = frame_power(audio, FRAME_SAMPLES)
    rms = float(np.sqrt(power.max())) if power.size else 0.0
    return 20.0 * float(np.log10(max(rms, _FLOOR)))


def voice_activity(audio: np.ndarray) -> VoiceActivity | None:
    """Silero VAD over ``audio`` (faster-whisper's bundled model); None without faster-whisper."""
    try:
        return detect_speech(audio)
    except ImportError:
        return None


def check_speech(
    audio: np.ndarray, silence_dbfs: float, use_vad: bool, min_speech_seconds: float
) -> GateDecision:
    peak = peak_frame_dbfs(audio)
    if peak < silence_dbfs:
        return GateDecision(False, "silence", peak, None, "energy")
    if not use_vad:
        return GateDecision(True, "speech", peak, None, "energy")
    activity = voice_activity(audio)
    if activity is None:
        logger.warning("faster-whisper is not installed: silence gate uses energy only")
        return GateDecision(True, "speech", peak, None, "energy")
    found = activity.speech_seconds(activity.gate_threshold)
    if found < min_speech_seconds:
        return GateDecision(False, "no speech", peak, found, "energy+vad", activity)
    return GateDecision(True, "speech", peak, found, "energy+vad", activity)
