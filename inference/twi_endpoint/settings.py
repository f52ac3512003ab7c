"""Endpoint configuration, read from the environment once per process.

All environment variable names live here. Explicit arguments (the CLI's ``--language``, a
request's CustomAttributes) beat these values; these beat the defaults.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from twi_contract import LANGUAGE_EXPECTED, TASKS, parse_language

from twi_endpoint.errors import InvalidRequestError, ModelLoadError
from twi_endpoint.types import QUIETEST_SPEECH_DBFS

ENV_LANGUAGE: Final = "TWI_ASR_LANGUAGE"  # default language, e.g. "tw" (twi_contract); unset = detect
ENV_TASK: Final = "TWI_ASR_TASK"  # "transcribe" or "translate"
ENV_ENGINE: Final = "TWI_ASR_ENGINE"  # "transformers" or "ctranslate2"; unset = from model files
ENV_DEVICE: Final = "TWI_ASR_DEVICE"  # "cuda", "cpu"; unset = cuda when present
ENV_BATCH_SIZE: Final = "TWI_ASR_BATCH_SIZE"  # 30 s windows decoded together; unset = automatic
ENV_BEAM_SIZE: Final = "TWI_ASR_BEAM_SIZE"  # hypotheses the decoder keeps; 1 = greedy (see below)
ENV_MAX_AUDIO_SECONDS: Final = "TWI_ASR_MAX_AUDIO_SECONDS"
ENV_MIN_AUDIO_SECONDS: Final = "TWI_ASR_MIN_AUDIO_SECONDS"
ENV_SILENCE_DBFS: Final = "TWI_ASR_SILENCE_DBFS"  # loudest 30 ms frame below this = silence
ENV_VAD: Final = "TWI_ASR_VAD"  # "1"/"0": Silero VAD gate (needs faster-whisper)
ENV_MIN_SPEECH_SECONDS: Final = "TWI_ASR_MIN_SPEECH_SECONDS"
ENV_FFMPEG: Final = "TWI_ASR_FFMPEG"  # path of the ffmpeg binary; unset = from PATH
ENV_DECODE_TIMEOUT_SECONDS: Final = "TWI_ASR_DECODE_TIMEOUT_SECONDS"
ENV_CPU_ENCODER: Final = "TWI_ASR_CPU_ENCODER"  # CTranslate2 engine on CPU: see CPU_ENCODERS
# "auto": PyTorch bfloat16 where the CPU has AMX (or measures it faster), else CTranslate2's
# int8; "ctranslate2": always CTranslate2's (no PyTorch loaded: ~390 MB less memory);
# "bfloat16": always PyTorch's (twi_endpoint.torch_encoder).
CPU_ENCODERS: Final = ("auto", "ctranslate2", "bfloat16")
# Greedy decoding is the default (the CTranslate2 engine decodes a window whose text looks
# broken again with beam 5): on 2 CPU cores beam 5 for every window cost 1.46x the time for 9 %
# fewer errors, most of them on degraded audio (a phone line 141 -> 118), none on clean read
# speech (bench/FINDINGS.md, 2026-12-05). Call centres may prefer it; the endpoint takes 1-10.
DEFAULT_BEAM_SIZE: Final = 1
MAX_BEAM_SIZE: Final = 10
# Where a timed encoder choice is remembered for this machine (twi_endpoint.torch_encoder.
# remembered_choice): $XDG_CACHE_HOME/twi-asr, else ~/.cache/twi-asr (the XDG default).
ENV_CACHE_HOME: Final = "XDG_CACHE_HOME"


def checked_beam_size(beam_size: int) -> int:
    """``beam_size`` as an engine is loaded with it: a clear error for one under 1 (the
    environment's value is checked, with its upper bound, where it is read)."""
    if beam_size < 1:
        raise ModelLoadError(f"beam_size must be >= 1, got {beam_size}")
    return beam_size


@dataclass(frozen=True)
class EndpointSettings:
    language: str | None = None  # parsed (twi_contract.parse_language); None: the model detects it
    task: str = "transcribe"
    engine: str | None = None
    device: str | None = None
    batch_size: int | None = None
    beam_size: int = DEFAULT_BEAM_SIZE
    max_audio_seconds: float = (
        4 * 3600.0
    )  # 4 h of audio: minutes of GPU work, well inside the 1 h an async invocation may run
    min_audio_seconds: float = 0.25  # shorter cannot hold a word
    silence_dbfs: float = QUIETEST_SPEECH_DBFS  # dB relative to full scale
    vad: bool = True
    min_speech_seconds: float = 0.2
    ffmpeg: str = "ffmpeg"
    decode_timeout_seconds: float = 600.0
    cpu_encoder: str = "auto"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> EndpointSettings:
        """Build settings from ``env`` (default ``os.environ``); bad values raise with the name."""
        env = os.environ if env is None else env
        d = cls()
        return cls(
            language=normalize_language(env.get(ENV_LANGUAGE)),
            task=normalize_task(env.get(ENV_TASK) or d.task),
            engine=(env.get(ENV_ENGINE) or "").strip().lower() or None,
            device=(env.get(ENV_DEVICE) or "").strip().lower() or None,
            batch_size=_int(env, ENV_BATCH_SIZE, None, minimum=1),
            beam_size=_int(env, ENV_BEAM_SIZE, d.beam_size, minimum=1, maximum=MAX_BEAM_SIZE) or d.beam_size,
            max_audio_seconds=_float(env, ENV_MAX_AUDIO_SECONDS, d.max_audio_seconds),
            min_audio_seconds=_float(env, ENV_MIN_AUDIO_SECONDS, d.min_audio_seconds),
            silence_dbfs=_float(env, ENV_SILENCE_DBFS, d.silence_dbfs),
            vad=(env.get(ENV_VAD) or "1").strip().lower() not in ("0", "false", "no", "off"),
            min_speech_seconds=_float(env, ENV_MIN_SPEECH_SECONDS, d.min_speech_seconds),
            ffmpeg=env.get(ENV_FFMPEG) or d.ffmpeg,
            decode_timeout_seconds=_float(env, ENV_DECODE_TIMEOUT_SECONDS, d.decode_timeout_seconds),
            cpu_encoder=_choice(env, ENV_CPU_ENCODER, d.cpu_encoder, CPU_ENCODERS),
        )


def normalize_language(value: str | None, where: str = ENV_LANGUAGE) -> str | None:
    """``twi_contract.parse_language``; its refusal names ``where`` the value came from.
    Checked against the model later (``twi_endpoint.request.bind_language``)."""
    try:
        return parse_language(value)
    except ValueError:
        raise InvalidRequestError(
            f"invalid language {value!r} (from {where}): expected {LANGUAGE_EXPECTED}"
        ) from None


def normalize_task(value: str) -> str:
    task = value.strip().lower()
    if task not in TASKS:
        raise InvalidRequestError(f"invalid task {value!r}: expected one of {', '.join(TASKS)}")
    return task


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return float(raw)
    except ValueError:
        raise InvalidRequestError(f"{name}={raw!r} is not a number") from None


def _choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = (env.get(name) or "").strip().lower() or default
    if value not in allowed:
        raise InvalidRequestError(f"{name}={env.get(name)!r}: expected one of {', '.join(allowed)}")
    return value


def _int(
    env: Mapping[str, str], name: str, default: int | None, minimum: int, maximum: int | None = None
) -> int | None:
    raw = env.get(name)
    if raw is None or not raw.strip() or raw.strip().lower() == "auto":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequestError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise InvalidRequestError(f"{name}={raw!r} must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise InvalidRequestError(f"{name}={raw!r} must be at most {maximum}")
    return value
