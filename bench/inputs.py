"""The benchmark's input: long-form real speech with pauses, built reproducibly from ../shared.

Real recordings (LibriSpeech, LibriVox, CMU Arctic, JFK, MFA: English clips that come with
reference transcripts) are laid end to end with random-but-seeded pauses, so the result is
what a user uploads (a long recording with natural gaps) and its reference is exact: the
clip references in order. The "sparse" variant spreads the same kind of speech over a
recording that is mostly silence, to check that silence costs (almost) nothing.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
from twi_endpoint.segmentation import frame_power
from twi_endpoint.types import SAMPLE_RATE

from twi_asr.evaluation.manifest import MANIFEST_NAME, read_manifest

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
class Span:
    """Where one reference clip's speech lies in a benchmark recording (seconds)."""

    # first sound of the clip's speech: its energy onset, not the clip's file start (its first
    # word for a clip in FIRST_WORD_S, which opens with a loud sound that is not speech)
    start_s: float
    end_s: float
    reference: str


@dataclass(frozen=True)
class LongForm:
    """One benchmark recording: 16 kHz mono float32 audio and its reference transcript."""

    name: str
    audio: np.ndarray
    reference: str
    speech_s: float  # seconds of speech in it (the rest is pauses)
    clips: int
    spans: tuple[Span, ...] = ()  # each clip's known place, for the timing error

    @property
    def duration_s(self) -> float:
        return self.audio.size / SAMPLE_RATE


def _is_english(folder: str, file: str) -> bool:
    # long/ also holds Spanish and German readings: keep only its English ones.
    return folder == "en" or "_en_" in file


class CannotBuild(ValueError):
    """The data given cannot make this input (held-out data need not have every folder of
    ../shared): the bench leaves the input out and says why."""


def clips_with_references(shared_data: Path, folder: str) -> list[Clip]:
    """The clips of ``shared_data/folder`` whose manifest row has a reference (speech, not
    noise); none when the data has no such folder (held-out data laid out like ../shared
    may hold only ``en/``). A row without ``duration_s`` is measured from its file."""
    manifest = shared_data / folder / MANIFEST_NAME
    if not manifest.is_file():
        return []
    return [
        Clip(c.path, c.duration_s if c.duration_s is not None else _duration_s(c.path), c.reference)
        for c in read_manifest(manifest, check_files=False, skip_unreferenced=True)
    ]


def _duration_s(path: Path) -> float:
    import librosa

    return float(librosa.get_duration(path=str(path)))


def either(folders: Sequence[str]) -> str:
    """``("en", "long")`` as "en/ or long/", for a message that says where data was looked for."""
    return " or ".join(f"{folder}/" for folder in folders)


def english_clips(shared_data: Path) -> list[Clip]:
    """Every English clip with a reference under ``shared_data`` (``en/`` and ``long/``)."""
    clips = [
        clip
        for folder in ENGLISH_FOLDERS
        for clip in clips_with_references(shared_data, folder)
        if _is_english(folder, clip.path.name)
    ]
    if not clips:
        raise FileNotFoundError(
            f"no English clips with references under {shared_data} (a manifest.tsv of file, "
            f"duration_s, reference in {either(ENGLISH_FOLDERS)})"
        )
    return clips


def load_clip(path: Path) -> np.ndarray:
    """Decode any clip to 16 kHz mono float32 (librosa: soundfile, then audioread/ffmpeg)."""
    import librosa

    audio, _ = librosa.load(str(path), sr=SAMPLE_RATE, mono=True)
    return np.asarray(audio, dtype=np.float32)


def _pause(rng: random.Random, noise: np.random.Generator, seconds: float) -> np.ndarray:
    n = int(seconds * SAMPLE_RATE)
    return (noise.standard_normal(n) * ROOM_NOISE_RMS).astype(np.float32)


ONSET_FRAME = SAMPLE_RATE // 50  # 20 ms frames for the energy onset of a clip
ONSET_DB = -35.0  # a frame this far under the clip's loudest frame is not yet speech
FLOOR_FRAMES = 5  # a clip's floor: its quietest 100 ms ...
FLOOR_MARGIN_DB = 10.0  # ... and a frame within this of it is not speech either
# Clips that open with a loud sound that is not speech, and where the first word starts
# (seconds into the clip, at its own pace).
# mfa_acoustic_corpus.wav opens with a 0.5 s burst at the clip's peak level (no word of the
# reference), then 0.45 s of rumble under 100 Hz (-14 to -20 dB on the whole band, the
# noise floor above 100 Hz but for a 40 ms click at 0.64 s); "this" starts at 1.05 s, where
# the Montreal Forced Aligner's own alignment of this recording puts it (its TextGrid,
# tests/data/textgrid/acoustic_corpus.TextGrid: "DH" 1.05, "S" 1.11-1.20 s, where the clip's
# zero-crossing rate and spectral centroid show the hiss) and where Silero's speech begins.
# Energy alone took the burst for the first word (1 s timing error on every input holding
# the clip, whatever the engine); 0.62 s, the rumble's rise, was this table's value until
# 2026-12-04 and put the word 0.43 s early (Whisper's cross-attention word times, 0.69-0.74 s
# for faster-whisper and ours, follow the click).
FIRST_WORD_S = {"mfa_acoustic_corpus.wav": 1.05}
# Speech is a stretch of loud frames, quiet of up to SPEECH_GAP_S inside it (a stop's closure,
# the break between syllables) joined, that holds at least SPEECH_LOUD_S of loud frames (a
# syllable's vowel); a click or a pop alone holds less (speech_bounds).
SPEECH_GAP_S = 0.2
SPEECH_LOUD_S = 0.1
INNER_PAUSE_MIN_S = 1.0  # pauses inserted *inside* a clip (the "inner_pauses" input)
INNER_PAUSE_MAX_S = 4.0
SHORT_CLIP_MAX_S = 5.5  # the "short_pauses" input: only short utterances ...
LONG_PAUSE_MIN_S = 3.0  # ... separated by long pauses
LONG_PAUSE_MAX_S = 10.0
QUIET_GAIN_DB = -20.0  # the "quiet" input: every clip 20 dB quieter (the room noise is not)
# The "slow" input: every clip played at 0.8x its pace, by resampling (the speed perturbation
# ASR recipes train with, Ko et al. 2015: slower and lower at once, as a tired or ill speaker
# sounds). Not a phase vocoder: librosa's time_stretch at 0.8 and 0.9 left artifacts that
# cost every contender alike (WER 16-22 % against 5-9 % by resampling, seed 0).
SLOW_SPEED = 0.8

# The telephone input: the speech input as a call centre records it (fintech call centres
# are among this product's users): the telephone band, 8 kHz G.711 mu-law, line noise.
PHONE_BAND_HZ = (300.0, 3400.0)
PHONE_RATE = 8_000
PHONE_SNR_DB = 20.0  # line noise this far under the speech (RMS of the frames above -80 dBFS)

# The "reverb" input: the speech input as a microphone across a hall hears it (a classroom,
# a church, a community radio's studio): every sound followed by its room's reverberation.
ROOM_RT60_S = 0.6  # the time the reverberation takes to fall by 60 dB
# The "babble" input: the speech input recorded where other people talk (a market, an
# office, a call centre's floor): talkers in languages the reference is not in (the Spanish,
# German and Twi recordings of ../shared), so that a word written from them is an insertion,
# never a match.
BABBLE_TALKERS = 6
BABBLE_SNR_DB = 15.0  # all talkers together this far under the speech (RMS over the clips)
OTHER_LANGUAGE_FOLDERS = ("long", "twi")
HELD_OUT_CLIP_MAX_S = 30.0  # the longest clip in those two (issue 10's held-out speech: 2-30 s clips)


class HardInput(NamedTuple):
    """How a hard input is arranged from the clips."""

    max_clip_s: float | None  # only clips up to this long
    pauses_s: tuple[float, float]  # between clips
    gain_db: float = 0.0  # every clip this much quieter (the room noise is not)
    inner_pauses: bool = False  # 1-4 s pauses stretched into the clips
    telephone: bool = False  # the whole recording through a telephone channel (telephone_channel)
    speed: float = 1.0  # every clip at this pace (at_speed)
    rt60_s: float = 0.0  # the whole recording in a room with this reverberation time (in_room)
    babble_db: float | None = None  # other talkers this far under the speech (with_babble)


# The hard inputs (`make bench` builds them besides "speech" and "sparse20"): what made
# Whisper skip sentences on held-out audio, and audio unlike the clean recordings of ../shared.
HARD_INPUTS: dict[str, HardInput] = {
    "short_pauses": HardInput(SHORT_CLIP_MAX_S, (LONG_PAUSE_MIN_S, LONG_PAUSE_MAX_S)),
    "inner_pauses": HardInput(None, (MIN_PAUSE_S, MAX_PAUSE_S), inner_pauses=True),
    "quiet": HardInput(None, (MIN_PAUSE_S, MAX_PAUSE_S), gain_db=QUIET_GAIN_DB),
    "telephone": HardInput(None, (MIN_PAUSE_S, MAX_PAUSE_S), telephone=True),
    "slow": HardInput(None, (MIN_PAUSE_S, MAX_PAUSE_S), speed=SLOW_SPEED),
    # up to HELD_OUT_CLIP_MAX_S a clip: a 3 min input is not the 158 s sonnet alone
    "reverb": HardInput(HELD_OUT_CLIP_MAX_S, (MIN_PAUSE_S, MAX_PAUSE_S), rt60_s=ROOM_RT60_S),
    "babble": HardInput(HELD_OUT_CLIP_MAX_S, (MIN_PAUSE_S, MAX_PAUSE_S), babble_db=BABBLE_SNR_DB),
}


def at_speed(audio: np.ndarray, speed: float) -> np.ndarray:
    """``audio`` played at ``speed`` times its pace (0.8: 1.25x as long), pitch moving with it:
    resampled by the nearest small ratio (scipy's polyphase filter)."""
    from fractions import Fraction

    from scipy.signal import resample_poly

    if speed == 1.0:
        return audio
    ratio = Fraction(1 / speed).limit_denominator(20)
    return resample_poly(audio, ratio.numerator, ratio.denominator).astype(np.float32)


def telephone_recording(audio: np.ndarray, noise: np.random.Generator) -> bytes:
    """``audio`` (16 kHz) as a call centre stores it: band-passed to 300-3400 Hz (zero phase:
    clip times stay exact), 8 kHz, line noise :data:`PHONE_SNR_DB` under the speech, a G.711
    mu-law WAV file."""
    import io

    import soundfile as sf
    from scipy.signal import butter, resample_poly, sosfiltfilt

    band = butter(6, PHONE_BAND_HZ, btype="band", fs=SAMPLE_RATE, output="sos")
    line = resample_poly(sosfiltfilt(band, audio.astype(np.float64)), PHONE_RATE, SAMPLE_RATE)
    voiced = line[np.abs(line) > 1e-4]
    level = float(np.sqrt(np.mean(voiced**2))) if voiced.size else 0.0
    line = np.clip(line + noise.standard_normal(line.size) * level * 10 ** (-PHONE_SNR_DB / 20), -1.0, 1.0)
    stored = io.BytesIO()
    sf.write(stored, line.astype(np.float32), PHONE_RATE, format="WAV", subtype="ULAW")
    return stored.getvalue()


def telephone_channel(audio: np.ndarray, noise: np.random.Generator) -> np.ndarray:
    """``audio`` through :func:`telephone_recording`, back at 16 kHz (same length), decoded
    by the endpoint's own decoder."""
    from twi_endpoint.audio import decode_audio

    wide = decode_audio(telephone_recording(audio, noise), name="telephone call").samples[: audio.size]
    return np.pad(wide, (0, audio.size - wide.size)).astype(np.float32, copy=False)


def in_room(audio: np.ndarray, rt60_s: float, noise: np.random.Generator) -> np.ndarray:
    """``audio`` as a microphone a few metres from the speaker hears it in a room: the direct
    sound, unchanged and on time (clip times stay exact), plus as much energy again of
    reverberation (exponentially decaying noise, the late reverberation model of Schroeder
    and Polack) that falls by 60 dB in ``rt60_s``. The loudest sample stays as loud."""
    from scipy.signal import fftconvolve

    t = np.arange(1, int(rt60_s * SAMPLE_RATE)) / SAMPLE_RATE
    tail = noise.standard_normal(t.size) * np.exp(-3 * np.log(10) * t / rt60_s)
    response = np.concatenate([[1.0], tail / np.sqrt(np.sum(tail**2))])  # direct = reverberant
    wet = fftconvolve(audio.astype(np.float64), response)[: audio.size]
    return (wet * float(np.abs(audio).max()) / max(float(np.abs(wet).max()), 1e-9)).astype(np.float32)


def with_babble(
    built: LongForm, talkers: list[np.ndarray], snr_db: float, noise: np.random.Generator
) -> np.ndarray:
    """``built``'s audio with :data:`BABBLE_TALKERS` voices from ``talkers`` (recordings,
    their speech joined and read from a random place each) mixed in, together ``snr_db``
    under the speech (the RMS over its clips' spans); scaled down whole if a sample would pass
    full scale. Only each recording's speech (its 20 ms frames over :func:`onset_level`), each
    at one level: the Twi clips are two thirds silence, and summed as recorded the talkers
    came in bursts as loud as the speech with quiet between them."""
    voices = []
    for talker in talkers:
        frames = talker[: talker.size // ONSET_FRAME * ONSET_FRAME].reshape(-1, ONSET_FRAME)
        db = _frame_db(talker)
        spoken = frames[db > onset_level(db)].ravel()
        voices.append(spoken / max(float(np.sqrt(np.mean(spoken**2))), 1e-9))
    babble = talkers_at_once(np.concatenate(voices), built.audio.size, noise)
    speech = np.concatenate(
        [built.audio[round(sp.start_s * SAMPLE_RATE) : round(sp.end_s * SAMPLE_RATE)] for sp in built.spans]
    )
    level = float(np.sqrt(np.mean(speech.astype(np.float64) ** 2))) * 10 ** (-snr_db / 20)
    mixed = built.audio + babble * level / float(np.sqrt(np.mean(np.square(babble))))
    return (mixed / max(1.0, float(np.abs(mixed).max()) / 0.99)).astype(np.float32)


def talkers_at_once(pool: np.ndarray, n: int, noise: np.random.Generator) -> np.ndarray:
    """:data:`BABBLE_TALKERS` voices, each ``pool`` (speech joined) read from a random place
    and repeated to ``n`` samples, summed (not scaled)."""
    return np.asarray(
        sum(np.resize(np.roll(pool, -int(noise.integers(pool.size))), n) for _ in range(BABBLE_TALKERS))
    )


def other_language_recordings(shared_data: Path) -> list[np.ndarray]:
    """The recordings of ``shared_data`` in other languages than English (with a reference:
    speech, not noise), decoded: the talkers of the ``babble`` input."""
    out = [
        load_clip(clip.path)
        for folder in OTHER_LANGUAGE_FOLDERS
        for clip in clips_with_references(shared_data, folder)
        if not _is_english(folder, clip.path.name)
    ]
    if not out:
        folders = either(OTHER_LANGUAGE_FOLDERS)
        raise CannotBuild(f"no recordings in other languages with a reference in {shared_data}: {folders}")
    return out


def _frame_db(audio: np.ndarray) -> np.ndarray:
    whole = audio[: audio.size // ONSET_FRAME * ONSET_FRAME].astype(np.float64)
    rms = np.sqrt(frame_power(whole, ONSET_FRAME)) + 1e-10
    return np.asarray(20 * np.log10(rms / rms.max()))


def speech_bounds(audio: np.ndarray) -> tuple[float, float]:
    """Where a clip's speech really starts and ends (seconds): its first and last two loud
    frames in a row, in its stretches of speech.

    Energy only, independent of any VAD an engine uses: clips come with 0.1-0.5 s of
    leading silence, which would otherwise count as timing error. Loud means over
    :func:`onset_level` in the whole band and in the clip's first difference (a high-pass,
    the pre-emphasis of speech front ends: -34 dB at 50 Hz, -8 dB at 1 kHz). A noise bed
    of hum or rumble is loud in the whole band only: on it JFK's inaugural clip started at
    0.10 s against "And" at 0.32 s, and a LibriVox clip ("had he married") at 0.02 s
    against 0.26 s, on a single frame of it; a hiss is loud in the first difference only
    (three clips of ../shared would start at 0.00-0.10 s on it). Both agree with Silero's
    first speech within 0.06 s on every English clip of ../shared as recorded but that
    "had", breathed in 0.09 s before Silero hears it (and the clip of FIRST_WORD_S).

    Two loud frames in a row (40 ms): a word lasts longer than one 20 ms frame. A Common
    Voice "no" (held out) opens with one loud frame 0.42 s before the word, and every
    engine's segment was 0.42 s "late" (0.53 s at 0.8x pace, 1.6-3.3 s in ``inner_pauses``,
    which stretched the gap after it as a pause between words). On the 31 English clips of
    ../shared (the held-out ones of ``formats`` too), as recorded and at 0.8x pace, the
    start moved on seven, 0.04-0.54 s later but the clip of FIRST_WORD_S, which that sets
    (the end 0.04-0.22 s earlier on sixteen). Against Silero's first speech: closer on
    three, as close on one (0.02 s either side), and the "no" at its word.

    A click can last longer than two frames: of a stretch of speech (loud frames,
    :data:`SPEECH_GAP_S` of quiet inside it joined) at least :data:`SPEECH_LOUD_S` is loud,
    and a sound alone that holds less is not speech (a clip of nothing else keeps it). A Twi
    Common Voice clip opens with a 60 ms click 0.6 s before its first word: 0.20 -> 0.80 s
    (Silero: 0.78 s); at 0.8x pace an English clip opens with two loud frames of a sound at
    the file's start, 0.28 s before its word: now at the word. Of the 53 recordings of
    ../shared (all languages, every format), as recorded, the start moved on that Twi clip
    and on the MFA clip of FIRST_WORD_S (0.64 -> 1.06 s: its 40 ms click at 0.64 s, where
    its table entry, 1.05 s, sets it anyway), the end on two Twi clips with a click after
    their last word (1.34 and 0.40 s earlier). Not enough alone for that MFA clip: with
    pauses stretched into it (``inner_pauses``, a floor of room tone under its own) the
    click's tail is loud too, 100 ms of it.
    """
    db = _frame_db(audio)
    slope = _frame_db(np.append(audio[:1], np.diff(audio)))
    loud = np.flatnonzero((db > onset_level(db)) & (slope > onset_level(slope)))
    gap, least = (
        round(SPEECH_GAP_S * SAMPLE_RATE / ONSET_FRAME),
        round(SPEECH_LOUD_S * SAMPLE_RATE / ONSET_FRAME),
    )
    stretches = np.split(loud, np.flatnonzero(np.diff(loud) > gap + 1) + 1)
    speech = [frames for frames in stretches if frames.size >= least] or stretches
    # the first of two loud frames in a row, in each stretch of speech
    held = np.concatenate([frames[:-1][np.diff(frames) == 1] for frames in speech])
    if held.size == 0:
        return 0.0, audio.size / SAMPLE_RATE
    return held[0] * ONSET_FRAME / SAMPLE_RATE, (held[-1] + 2) * ONSET_FRAME / SAMPLE_RATE


def onset_level(db: np.ndarray) -> float:
    """The level (dB under the clip's loudest frame) a frame must pass to count as speech:
    :data:`ONSET_DB`, and :data:`FLOOR_MARGIN_DB` over the clip's own floor, its quietest
    100 ms (five frames). A studio clip's floor is 45-80 dB down and ONSET_DB decides; a
    LibriVox or LibriSpeech reading's room tone can be only 23-40 dB down, and ONSET_DB alone
    took it for the first word: six clips of ../shared started 0.18-0.42 s early, four of
    them at their file's first frame (the sonnets' "One" rises at 0.42 s out of room tone as
    loud as their pauses; at 0.8x pace that put them 0.52 s before any engine's first word).
    Silero's first speech agrees with the new onsets within 0.05 s on five of the six; on
    the sixth it starts at the first frame.
    """
    quietest = (
        float(np.convolve(db, np.ones(FLOOR_FRAMES) / FLOOR_FRAMES, mode="valid").min())
        if db.size >= FLOOR_FRAMES
        else -np.inf
    )
    return max(ONSET_DB, quietest + FLOOR_MARGIN_DB)


def word_gaps(audio: np.ndarray, min_gap_s: float = 0.12, edge_s: float = 0.5) -> list[int]:
    """Sample positions in the middle of the clip's quiet gaps between words (energy, 20 ms):
    runs of frames within 10 dB of the clip's own noise floor (its quietest 10 %)."""
    db = _frame_db(audio)
    quiet = db < max(ONSET_DB, float(np.percentile(db, 10)) + FLOOR_MARGIN_DB)
    min_frames = round(min_gap_s * SAMPLE_RATE / ONSET_FRAME)
    edge = round(edge_s * SAMPLE_RATE / ONSET_FRAME)
    gaps, run = [], 0
    for i, q in enumerate([*quiet.tolist(), False]):
        if q:
            run += 1
            continue
        if run >= min_frames and i - run > edge and i < quiet.size - edge:
            gaps.append((i - run // 2) * ONSET_FRAME)
        run = 0
    return gaps


def _stretch_pauses(
    rng: random.Random, noise: np.random.Generator, audio: np.ndarray, max_pauses: int = 2
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The clip with up to ``max_pauses`` of its word gaps widened to 1-4 s (a slow,
    hesitant speaker); the words and their order, hence the reference, are unchanged.
    Also where each pause went into the original clip and its length (samples)."""
    gaps = word_gaps(audio)
    if not gaps:
        return audio, []
    chosen = sorted(rng.sample(gaps, min(max_pauses, len(gaps))))
    parts, last, inserted = [], 0, []
    for cut in chosen:
        parts += [audio[last:cut], _pause(rng, noise, rng.uniform(INNER_PAUSE_MIN_S, INNER_PAUSE_MAX_S))]
        inserted.append((cut, parts[-1].size))
        last = cut
    parts.append(audio[last:])
    return np.concatenate(parts), inserted


def _choose(
    rng: random.Random, pool: list[Clip], budget_s: float, pauses: tuple[float, float] | None
) -> tuple[list[Clip], list[float]]:
    """Shuffled clips (repeated when the pool is exhausted) until ``budget_s`` is filled;
    each with the pause before it (0 when ``pauses`` is None)."""
    chosen: list[Clip] = []
    gaps: list[float] = []
    used_s = 0.0
    order: list[Clip] = []
    misses = 0  # consecutive clips that did not fit: stop once no clip of the pool fits
    while misses < len(pool):
        if not order:
            order = pool[:]
            rng.shuffle(order)
        clip = order.pop()
        gap = rng.uniform(*pauses) if pauses is not None else 0.0
        if chosen and used_s + gap + clip.duration_s > budget_s:
            misses += 1
            continue
        misses = 0
        chosen.append(clip)
        gaps.append(gap)
        used_s += gap + clip.duration_s
    return chosen, gaps


def _assemble(
    name: str,
    chosen: list[Clip],
    gaps: list[float],
    rng: random.Random,
    noise: np.random.Generator,
    gain_db: float | Sequence[float] = 0.0,
    inner_pauses: bool = False,
    speed: float = 1.0,
) -> LongForm:
    """Pause, clip, pause, clip, ..., pause (``gaps`` has one more entry than ``chosen``),
    recording where each clip's speech lands; ``gain_db`` for every clip or one per clip."""
    gains = [float(gain_db)] * len(chosen) if isinstance(gain_db, (int, float)) else list(gain_db)
    if len(gains) != len(chosen):  # zipped with the clips below: a short list would drop clips
        raise ValueError(f"{len(gains)} gains for {len(chosen)} clips")
    cache: dict[Path, np.ndarray] = {}
    parts: list[np.ndarray] = []
    spans: list[Span] = []
    at = 0
    speech = 0
    for clip, gap, gain in zip(chosen, gaps, gains, strict=False):
        parts.append(_pause(rng, noise, gap))
        at += parts[-1].size
        if clip.path not in cache:
            cache[clip.path] = at_speed(load_clip(clip.path), speed)
        audio = cache[clip.path] * np.float32(10 ** (gain / 20))
        inserted: list[tuple[int, int]] = []
        if inner_pauses:
            audio, inserted = _stretch_pauses(rng, noise, audio)
        first, last = speech_bounds(audio)
        if clip.path.name in FIRST_WORD_S:  # after the pauses stretched in before it
            word = round(FIRST_WORD_S[clip.path.name] / speed * SAMPLE_RATE)
            first = (word + sum(n for cut, n in inserted if cut <= word)) / SAMPLE_RATE
        spans.append(
            Span(round(at / SAMPLE_RATE + first, 3), round(at / SAMPLE_RATE + last, 3), clip.reference)
        )
        parts.append(audio.astype(np.float32))
        at += audio.size
        speech += cache[clip.path].size
    parts.append(_pause(rng, noise, gaps[-1]))
    return LongForm(
        name=name,
        audio=np.concatenate(parts),
        reference=" ".join(c.reference.strip() for c in chosen),
        speech_s=round(speech / SAMPLE_RATE, 3),
        clips=len(chosen),
        spans=tuple(spans),
    )


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
    total_s = minutes * 60.0
    if speech_fraction is None:
        chosen, gaps = _choose(rng, english_clips(shared_data), total_s, (MIN_PAUSE_S, MAX_PAUSE_S))
        gaps.append(rng.uniform(MIN_PAUSE_S, MAX_PAUSE_S))
        return _assemble("speech", chosen, gaps, rng, noise)
    chosen, _ = _choose(rng, english_clips(shared_data), total_s * speech_fraction, None)
    # the silence is split at random between (and around) the clips
    silence = max(0.0, total_s - sum(c.duration_s for c in chosen))
    weights = [rng.random() + 0.05 for _ in range(len(chosen) + 1)]
    gaps = [silence * w / sum(weights) for w in weights]
    return _assemble(f"sparse{round(speech_fraction * 100)}", chosen, gaps, rng, noise)


def build_hard_input(shared_data: Path, name: str, minutes: float, seed: int = 0) -> LongForm:
    """One of :data:`HARD_INPUTS`: speech arranged the way that made Whisper skip sentences.

    Raises :class:`CannotBuild` when the data has no clip short enough for it, or, for
    ``babble``, no recording in another language to be its talkers.
    """
    if name not in HARD_INPUTS:
        raise ValueError(f"unknown hard input {name!r}: choose from {', '.join(HARD_INPUTS)}")
    if minutes <= 0:
        raise ValueError(f"minutes must be positive, got {minutes}")
    how = HARD_INPUTS[name]
    rng = random.Random(f"{name}-{seed}")
    noise = np.random.default_rng([seed, len(name)])
    pool = [c for c in english_clips(shared_data) if how.max_clip_s is None or c.duration_s <= how.max_clip_s]
    if not pool:
        raise CannotBuild(f"no English clip of at most {how.max_clip_s:g} s under {shared_data}")
    # inserted pauses lengthen each clip by about 2 x 2.5 s: leave room for them (a slower
    # pace lengthens the input by up to 1 / speed: the budget is of the clips as recorded,
    # so that the sonnet, 158 s, is not alone in it)
    budget = minutes * 60.0 * (0.7 if how.inner_pauses else 1.0)
    chosen, gaps = _choose(rng, pool, budget, how.pauses_s)
    gaps.append(rng.uniform(*how.pauses_s))
    built = _assemble(name, chosen, gaps, rng, noise, how.gain_db, how.inner_pauses, how.speed)
    if how.telephone:
        built = replace(built, audio=telephone_channel(built.audio, noise))
    if how.rt60_s:
        built = replace(built, audio=in_room(built.audio, how.rt60_s, noise))
    if how.babble_db is not None:
        talkers = other_language_recordings(shared_data)
        built = replace(built, audio=with_babble(built, talkers, how.babble_db, noise))
    return built


BACK_TO_BACK_PAUSES_S = (0.05, 0.3)  # turn-taking: the next speaker starts as one stops


def build_back_to_back(shared_data: Path, minutes: float, seed: int = 0) -> LongForm:
    """About ``minutes`` of the clips one right after another (0.05-0.3 s between them, the
    recording ending half a second after its last word), as speakers taking turns leave no
    pause: windows are then cut between sentences without a pause to cut in. Not one of
    :data:`HARD_INPUTS` (``make bench`` does not build it); a held-out check of its own
    (seed 41: the decoder repeated the last sentence inside its segment, bench FINDINGS)."""
    if minutes <= 0:
        raise ValueError(f"minutes must be positive, got {minutes}")
    rng = random.Random(seed)
    noise = np.random.default_rng(seed)
    chosen, gaps = _choose(rng, english_clips(shared_data), minutes * 60.0, BACK_TO_BACK_PAUSES_S)
    gaps.append(MIN_PAUSE_S)
    return _assemble("back_to_back", chosen, gaps, rng, noise)


SAID_AGAIN_CLIP_MAX_S = 3.5  # "the same answer again and again": a short sentence ...
SAID_AGAIN_PAUSES_S = (1.0, 10.0)  # ... said again after this long


def build_said_again(shared_data: Path, minutes: float, seed: int = 0) -> LongForm:
    """About ``minutes`` of one short clip said again and again, 1-10 s apart: a caller's
    "Hello? Can you hear me?", a survey's "Yes.", a language lesson's drill, a church's
    response. Whisper writes a sentence it hears again fewer times than it is said, in a
    window that packs the repeats and in one that packs what it skipped. Not one of
    :data:`HARD_INPUTS`; a held-out check of its own (bench FINDINGS, 2026-12-05)."""
    if minutes <= 0:
        raise ValueError(f"minutes must be positive, got {minutes}")
    rng = random.Random(seed)
    noise = np.random.default_rng(seed)
    clip = rng.choice([c for c in english_clips(shared_data) if c.duration_s <= SAID_AGAIN_CLIP_MAX_S])
    chosen, gaps = _choose(rng, [clip], minutes * 60.0, SAID_AGAIN_PAUSES_S)
    gaps.append(rng.uniform(*SAID_AGAIN_PAUSES_S))
    return _assemble("said_again", chosen, gaps, rng, noise)


FAR_VOICE_GAIN_DB = -30.0  # the guest across the room: every other clip this much quieter


def build_far_voice(shared_data: Path, minutes: float, seed: int = 0) -> LongForm:
    """About ``minutes`` of the ``speech`` arrangement (0.5-3 s pauses) with every other clip
    :data:`FAR_VOICE_GAIN_DB` quieter (the room noise of the pauses is not): an interview whose
    host sits at the microphone and whose guest sits across the room, a meeting's far end.
    The recording's loudest frame is the host's, so raising the whole recording for the VAD
    (``segmentation.vad_gain``) leaves the guest as quiet as recorded. Not one of
    :data:`HARD_INPUTS`; a held-out check of its own (bench FINDINGS, 2026-12-05)."""
    if minutes <= 0:
        raise ValueError(f"minutes must be positive, got {minutes}")
    rng = random.Random(f"far_voice-{seed}")
    noise = np.random.default_rng([seed, 9])
    chosen, gaps = _choose(rng, english_clips(shared_data), minutes * 60.0, (MIN_PAUSE_S, MAX_PAUSE_S))
    gaps.append(rng.uniform(MIN_PAUSE_S, MAX_PAUSE_S))
    gains = [FAR_VOICE_GAIN_DB * (k % 2) for k in range(len(chosen))]
    return _assemble("far_voice", chosen, gaps, rng, noise, gains)


# The radio show: a presenter's speech with music, as community and commercial radio in
# Ghana air it (media houses are among this product's users). Synthetic music: no music
# recording with a licence fit for the repository is in ../shared.
RADIO_JINGLES = 4  # music-only stretches between clips ...
RADIO_JINGLE_S = (10.0, 20.0)  # ... this long ...
RADIO_JINGLE_DB = -3.0  # ... this loud against the speech (RMS over the clips)
RADIO_BED_DB = -18.0  # the bed under the presenter's speech in the first and last third


def synthetic_music(seconds: float, noise: np.random.Generator) -> np.ndarray:
    """``seconds`` of pop-like music at unit RMS: a four-chord progression of harmonic tones
    on every beat (120 per minute), a bass an octave under, a kick drum on the beat and a
    hi-hat between."""
    n = int(seconds * SAMPLE_RATE)
    out = np.zeros(n)
    beat = SAMPLE_RATE // 2

    def note(hz: float, size: int, harmonics: int) -> np.ndarray:
        t = np.arange(size) / SAMPLE_RATE
        wave = sum(
            0.6**k * np.sin(2 * np.pi * hz * (k + 1) * t + noise.uniform(0, 2 * np.pi))
            for k in range(harmonics)
        )
        return np.asarray(wave) * np.minimum(1.0, t / 0.02) * np.exp(-1.5 * t)

    roots = (220.0, 174.6, 261.6, 196.0)  # A, F, C, G
    for k, at in enumerate(range(0, n, beat)):
        size = min(2 * beat, n - at)
        root = roots[(k // 4) % len(roots)]
        for ratio in (1.0, 1.26, 1.5):  # the triad
            out[at : at + size] += 0.25 * note(root * ratio, size, 6)
        out[at : at + size] += 0.4 * note(root / 2, size, 3)
        kick = min(SAMPLE_RATE * 12 // 100, n - at)
        t = np.arange(kick) / SAMPLE_RATE
        out[at : at + kick] += 0.8 * np.sin(2 * np.pi * 60 * t * np.exp(-8 * t)) * np.exp(-25 * t)
        hat = min(SAMPLE_RATE // 20, n - at - beat // 2)
        if hat > 0:
            decay = np.exp(-80 * np.arange(hat) / SAMPLE_RATE)
            out[at + beat // 2 : at + beat // 2 + hat] += 0.15 * noise.standard_normal(hat) * decay
    return (out / np.sqrt(np.mean(out**2) + 1e-12)).astype(np.float32)


def build_radio_show(shared_data: Path, minutes: float, seed: int = 0) -> LongForm:
    """The speech input of about ``minutes`` (:func:`build_longform`) aired as a radio
    show: ``RADIO_JINGLES`` music-only jingles inserted in pauses between clips, and a music
    bed under the speech of the first and last third. A word written from the music is an
    insertion. Not one of :data:`HARD_INPUTS`; a held-out check of its own (bench FINDINGS,
    2026-12-05)."""
    plain = build_longform(shared_data, minutes, seed)
    rng = random.Random(seed)
    noise = np.random.default_rng(seed)
    spans = plain.spans
    clips = [plain.audio[round(s.start_s * SAMPLE_RATE) : round(s.end_s * SAMPLE_RATE)] for s in spans]
    speech_rms = float(np.sqrt(np.mean(np.concatenate(clips).astype(np.float64) ** 2)))
    between = sorted(rng.sample(range(len(spans) - 1), k=min(RADIO_JINGLES, len(spans) - 1)))
    cuts = [round((spans[i].end_s + spans[i + 1].start_s) / 2 * SAMPLE_RATE) for i in between]
    parts: list[np.ndarray] = []
    inserted: list[tuple[float, float]] = []  # (where, seconds) in the plain recording
    last = 0
    for cut in cuts:
        jingle = synthetic_music(rng.uniform(*RADIO_JINGLE_S), noise)
        parts += [plain.audio[last:cut], jingle * np.float32(speech_rms * 10 ** (RADIO_JINGLE_DB / 20))]
        inserted.append((cut / SAMPLE_RATE, jingle.size / SAMPLE_RATE))
        last = cut
    parts.append(plain.audio[last:])
    audio = np.concatenate(parts)
    bed = synthetic_music(audio.size / SAMPLE_RATE, noise) * np.float32(
        speech_rms * 10 ** (RADIO_BED_DB / 20)
    )
    third = audio.size // 3
    audio[:third] += bed[:third]
    audio[2 * third :] += bed[2 * third :]

    def later(t: float) -> float:
        return round(t + sum(seconds for where, seconds in inserted if where <= t), 3)

    moved = tuple(Span(later(s.start_s), later(s.end_s), s.reference) for s in spans)
    return replace(plain, name="radio", audio=np.clip(audio, -1.0, 1.0), spans=moved)


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
             "speech_s": lf.speech_s, "clips": lf.clips,
             "spans": [[sp.start_s, sp.end_s, sp.reference] for sp in lf.spans]}
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
        spans = tuple(Span(float(a), float(b), str(r)) for a, b, r in item.get("spans", []))
        out.append(LongForm(item["name"], audio, item["reference"], item["speech_s"], item["clips"], spans))
    return out
