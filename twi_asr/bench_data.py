"""The benchmark's input: long-form real speech with pauses, built reproducibly from ../shared.

Real recordings (LibriSpeech, LibriVox, CMU Arctic, JFK, MFA: English clips that come with
reference transcripts) are laid end to end with random-but-seeded pauses, so the result is
what a user uploads (a long recording with natural gaps) and its reference is exact: the
clip references in order. The "sparse" variant spreads the same kind of speech over a
recording that is mostly silence, to check that silence costs (almost) nothing.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16_000  # Hz
ENGLISH_FOLDERS = ("en", "long")  # only rows with an English reference are used (see _is_english)
MIN_PAUSE_S = 0.5
MAX_PAUSE_S = 3.0
ROOM_NOISE_RMS = 3e-4  # about -70 dBFS: pauses in real recordings are never digital zeros


@dataclass(frozen=True)
class Clip:
    path: Path
    duration_s: float
    reference: str


@dataclass(frozen=True)
class LongForm:
    """One benchmark recording: 16 kHz mono float32 audio and its reference transcript."""

    name: str
    audio: np.ndarray
    reference: str
    speech_s: float  # seconds of speech in it (the rest is pauses)
    clips: int

    @property
    def duration_s(self) -> float:
        return self.audio.size / SAMPLE_RATE


def _is_english(folder: str, file: str) -> bool:
    # long/ also holds Spanish and German readings: keep only its English ones.
    return folder == "en" or "_en_" in file


def english_clips(shared_data: Path) -> list[Clip]:
    """Every English clip with a reference under ``shared_data`` (``en/`` and ``long/``)."""
    clips: list[Clip] = []
    for folder in ENGLISH_FOLDERS:
        manifest = shared_data / folder / "manifest.tsv"
        if not manifest.is_file():
            raise FileNotFoundError(f"benchmark data missing: {manifest}")
        with open(manifest, encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                if row["reference"].strip() and _is_english(folder, row["file"]):
                    clips.append(
                        Clip(shared_data / folder / row["file"], float(row["duration_s"]), row["reference"])
                    )
    if not clips:
        raise FileNotFoundError(f"no English clips with references under {shared_data}")
    return clips


def load_clip(path: Path) -> np.ndarray:
    """Decode any clip to 16 kHz mono float32 (librosa: soundfile, then audioread/ffmpeg)."""
    import librosa

    audio, _ = librosa.load(str(path), sr=SAMPLE_RATE, mono=True)
    return np.asarray(audio, dtype=np.float32)


def _pause(rng: random.Random, noise: np.random.Generator, seconds: float) -> np.ndarray:
    n = int(seconds * SAMPLE_RATE)
    return (noise.standard_normal(n) * ROOM_NOISE_RMS).astype(np.float32)


def build_longform(
    shared_data: Path, minutes: float, seed: int = 0, speech_fraction: float | None = None
) -> LongForm:
    """About ``minutes`` of audio: shuffled clips (repeated when the pool is exhausted).

    ``speech_fraction=None`` gives speech with 0.5-3 s pauses between clips; a fraction
    such as 0.2 gives the sparse variant: that share of speech, the rest silence spread
    in random gaps between the clips.
    """
    if minutes <= 0:
        raise ValueError(f"minutes must be positive, got {minutes}")
    if speech_fraction is not None and not 0.0 < speech_fraction <= 1.0:
        raise ValueError(f"speech_fraction must be in (0, 1], got {speech_fraction}")
    rng = random.Random(seed)
    noise = np.random.default_rng(seed)
    pool = english_clips(shared_data)
    total_s = minutes * 60.0
    speech_budget = total_s * (speech_fraction if speech_fraction is not None else 1.0)
    cache: dict[Path, np.ndarray] = {}

    chosen: list[Clip] = []
    gaps: list[float] = []  # pause before each clip (speech variant)
    used_s = 0.0
    order: list[Clip] = []
    misses = 0  # consecutive clips that did not fit: stop once no clip of the pool fits
    while misses < len(pool):
        if not order:
            order = pool[:]
            rng.shuffle(order)
        clip = order.pop()
        gap = rng.uniform(MIN_PAUSE_S, MAX_PAUSE_S) if speech_fraction is None else 0.0
        if chosen and used_s + gap + clip.duration_s > speech_budget:
            misses += 1
            continue
        misses = 0
        chosen.append(clip)
        gaps.append(gap)
        used_s += gap + clip.duration_s

    if speech_fraction is None:
        gaps.append(rng.uniform(MIN_PAUSE_S, MAX_PAUSE_S))
    else:
        # the silence is split at random between (and around) the clips
        silence = max(0.0, total_s - used_s)
        weights = [rng.random() + 0.05 for _ in range(len(chosen) + 1)]
        gaps = [silence * w / sum(weights) for w in weights]

    parts: list[np.ndarray] = []
    for clip, gap in zip(chosen, gaps, strict=False):
        parts.append(_pause(rng, noise, gap))
        if clip.path not in cache:
            cache[clip.path] = load_clip(clip.path)
        parts.append(cache[clip.path])
    parts.append(_pause(rng, noise, gaps[-1]))
    audio = np.concatenate(parts)
    name = "speech" if speech_fraction is None else f"sparse{round(speech_fraction * 100)}"
    real_speech = sum(cache[c.path].size for c in chosen) / SAMPLE_RATE
    return LongForm(
        name=name,
        audio=audio,
        reference=" ".join(c.reference.strip() for c in chosen),
        speech_s=round(real_speech, 3),
        clips=len(chosen),
    )


def save_longforms(inputs: list[LongForm], folder: Path) -> None:
    """Write ``inputs`` as 16-bit PCM (compressed) plus their references, for another machine.

    16-bit PCM keeps the audio within 1.5e-5 of the float32 original (-96 dBFS), well under
    the -70 dBFS room noise of the pauses, and halves the size: the inputs travel to a GPU
    machine that cannot see ../shared.
    """
    import json

    folder.mkdir(parents=True, exist_ok=True)
    meta = []
    for lf in inputs:
        pcm = np.round(np.clip(lf.audio, -1.0, 1.0) * 32767.0).astype(np.int16)
        np.savez_compressed(folder / f"{lf.name}.npz", pcm=pcm)
        meta.append(
            {"name": lf.name, "file": f"{lf.name}.npz", "reference": lf.reference,
             "speech_s": lf.speech_s, "clips": lf.clips}
        )  # fmt: skip
    (folder / "inputs.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")


def load_longforms(folder: Path) -> list[LongForm]:
    """Read what :func:`save_longforms` wrote."""
    import json

    meta = json.loads((folder / "inputs.json").read_text(encoding="utf-8"))
    out = []
    for item in meta:
        with np.load(folder / item["file"]) as z:
            audio = z["pcm"].astype(np.float32) / 32767.0
        out.append(LongForm(item["name"], audio, item["reference"], item["speech_s"], item["clips"]))
    return out
