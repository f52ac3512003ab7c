"""Cut long audio into <= 30 s windows at its quietest moments: the transformers engine's
fallback when Silero VAD (faster-whisper) is not installed.

transformers' chunked pipeline cuts blindly every 20 s and stitches the overlaps by token
matching, which loses words at the joins; cutting where the signal is quietest inside the
last ``SEARCH_SECONDS`` of each window avoids stitching altogether. Energy only: no VAD
needed, deterministic, and a few milliseconds per hour of audio.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from twi_endpoint.types import N_SAMPLES, SAMPLE_RATE

SEARCH_SECONDS: Final = 10.0  # look for the quietest spot in the last 10 s of a 30 s window
PAUSE_FRAME: Final = SAMPLE_RATE // 10  # 1600 samples = 100 ms: roughly a short pause


def split_windows(audio: np.ndarray, max_samples: int = N_SAMPLES) -> list[tuple[int, int]]:
    """``[(start, end), ...]`` sample ranges covering ``audio`` in order, each <= max_samples."""
    n = len(audio)
    search = min(int(SEARCH_SECONDS * SAMPLE_RATE), max_samples // 2)
    windows: list[tuple[int, int]] = []
    pos = 0
    while n - pos > max_samples:
        lo = pos + max_samples - search
        region = audio[lo : pos + max_samples]
        frames = len(region) // PAUSE_FRAME
        energy = np.square(region[: frames * PAUSE_FRAME], dtype=np.float32).reshape(frames, PAUSE_FRAME)
        quietest = int(np.argmin(energy.sum(axis=1)))
        cut = lo + quietest * PAUSE_FRAME + PAUSE_FRAME // 2
        windows.append((pos, cut))
        pos = cut
    windows.append((pos, n))
    return windows
