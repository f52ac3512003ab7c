"""Cut a long recording into <=30 s windows at real pauses, skipping silence.

Whisper sees 30 s at a time. Cutting blindly every 30 s splits words (the transformers
pipeline's strided chunking then has to stitch them back, which costs accuracy), and decoding
the silent stretches costs time and invites hallucinated text. Instead we ask Silero VAD
(the ONNX model bundled with faster-whisper, run through onnxruntime) where speech is, then:

1. mark speech with a *low* threshold and hysteresis, and pad it generously, so quiet or
   trailing speech is kept (a VAD that drops low-energy speech turns into word deletions);
   loud sound Silero called silence is heard again from a fresh state
   (:func:`listen_again`: its state can lag after a long quiet pause);
2. pack consecutive speech regions greedily into windows of at most ``max_window_s``,
   closing a window only in a pause, so no word is ever split between two windows;
3. when a region does not fit in what is left of a window, cut it at its last pause
   between sentences that fits, or else start the next window with it; only a region
   longer than a window is cut at a word gap (with no pause at all, at its quietest moment).

The windows are contiguous slices of the original audio (pauses *inside* a window are kept,
which keeps the timeline honest); the silence *between* windows is never decoded.

This module is engine-agnostic: the transformers engine can reuse :func:`plan_windows`.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from twi_endpoint.types import QUIETEST_SPEECH_DBFS, SAMPLE_RATE

VAD_FRAME = 512  # samples per Silero VAD decision: 32 ms at 16 kHz
FRAME_S = VAD_FRAME / SAMPLE_RATE  # 0.032 s
GATE_THRESHOLD = 0.5  # Silero's own speech decision: what the silence gate counts
# Under this Silero is sure a frame is not speech; between it and GATE_THRESHOLD it is unsure.
UNSURE_FLOOR = 0.05
# Where Silero is unsure of a recording, frames this far above its noise floor count as speech
# (ten times the floor's power; 6 dB kept 1-3 points more of a call's speech: loud_frames).
LOUD_DB = 10.0
SILERO_MIN_SPEECH_S = 0.25  # Silero's own shortest speech (get_speech_timestamps' default)
NOISE_FLOOR_PERCENTILE = 10  # the floor: the power under which this share of the frames stays
ONSET_CONTEXT_S = 3.0  # a word's onset is heard against the floor this far around it
RELISTEN_CONTEXT_S = 0.5  # audio a fresh Silero hears before a loud stretch (listen_again)
# A quieter recording is raised to this before Silero hears it (:func:`vad_gain`, since
# 2026-12-06 from its loudest second of sound, in speech most often 1-6 dB under its loudest
# frame): the loudest frame of the quietest real clips measured (LibriSpeech's, -20.5 and
# -21.5 dBFS), and a level where noise is still no speech to Silero (white noise at -8 dBFS is
# speech to it).
VAD_LEVEL_DBFS = -20.0


@dataclass(frozen=True)
class SegmentationOptions:
    """How speech is found and packed. Defaults tuned on long-form English with pauses.

    ``threshold`` is deliberately lower than Silero's 0.5 default: a missed word is an
    error no decoder can undo, while a false alarm only costs a little decoding time (and
    the decoder's own no-speech check still removes it).
    """

    threshold: float = 0.3  # speech probability that starts a speech region
    neg_threshold: float = 0.15  # below this a region may end (hysteresis)
    # the same two on a recording Silero is unsure of (:func:`silero_unsure`: a telephone line)
    unsure_threshold: float = 2 * UNSURE_FLOOR  # the standard pair's 2:1 hysteresis
    unsure_neg_threshold: float = UNSURE_FLOOR
    min_silence_s: float = 0.3  # a region ends only after this much silence
    min_speech_s: float = 0.1  # shorter blips are dropped (clicks, breaths)
    pad_s: float = 0.4  # kept on both sides of each region, so soft onsets/offsets survive
    max_window_s: float = 29.0  # Whisper sees 30 s; the engine adds a 1 s quiet tail
    min_split_s: float = 10.0  # a forced cut (no pause in 30 s) leaves at least this before it
    min_piece_s: float = 1.0  # a region is not cut to fill a window with less than this

    def __post_init__(self) -> None:
        for low, high in (
            (self.neg_threshold, self.threshold),
            (self.unsure_neg_threshold, self.unsure_threshold),
        ):
            if not 0.0 < low <= high < 1.0:
                raise ValueError(
                    f"VAD thresholds must satisfy 0 < neg_threshold <= threshold < 1, "
                    f"got neg_threshold={low}, threshold={high}"
                )
        if not 0.0 < self.min_split_s < self.max_window_s <= 30.0:
            raise ValueError(
                f"need 0 < min_split_s < max_window_s <= 30, got {self.min_split_s}, {self.max_window_s}"
            )

    def lowered(self) -> SegmentationOptions:
        """These options on Silero's lower scale, for a recording it is unsure of."""
        return replace(self, threshold=self.unsure_threshold, neg_threshold=self.unsure_neg_threshold)


@dataclass(frozen=True)
class Window:
    """One <=30 s input to decode: speech pieces of the recording, joined.

    ``pieces`` are ``(start, end)`` sample ranges in the recording, in order. Each piece
    keeps ``pad_s`` of its surrounding pause, so joining two pieces leaves a natural pause
    between them while the long silences in between are never decoded.
    """

    pieces: tuple[tuple[int, int], ...]
    speech_s: float = 0.0  # seconds the VAD called speech inside the pieces

    @property
    def start(self) -> int:
        return self.pieces[0][0]

    @property
    def end(self) -> int:
        return self.pieces[-1][1]

    @property
    def start_s(self) -> float:
        return self.start / SAMPLE_RATE

    @property
    def end_s(self) -> float:
        return self.end / SAMPLE_RATE

    @property
    def duration_s(self) -> float:
        """Seconds of audio the model sees (the pieces, not the span they come from)."""
        return sum(e - s for s, e in self.pieces) / SAMPLE_RATE

    def audio(self, recording: np.ndarray) -> np.ndarray:
        if len(self.pieces) == 1:
            return recording[self.start : self.end]
        return np.concatenate([recording[s:e] for s, e in self.pieces])


VAD_MAX_PARTS = 4  # a long recording's VAD runs in up to this many pieces at once (one core each)
VAD_MIN_PART_FRAMES = 30 * SAMPLE_RATE // VAD_FRAME  # parts shorter than 30 s are not worth a thread
VAD_CONTEXT = 64  # samples of the previous frame Silero sees before each frame (faster-whisper's)
VAD_BATCH_FRAMES = 10_000  # frames per encoder run (faster-whisper's batch: bounds its memory)
# Silero v6's graph cut where its stateless encoder hands each frame's features to the LSTM.
SILERO_FEATURES = "/Transpose_output_0"


@functools.cache
def _silero_halves() -> tuple[Any, Any]:
    """faster-whisper's Silero VAD v6 graph as two onnxruntime sessions, cut at the LSTM.

    The encoder (an STFT and four convolutions: 90 % of the time) sees each 32 ms frame on
    its own, with 64 samples of the frame before; the decoder (the LSTM, then a pointwise
    convolution) carries the state from frame to frame. Cut there, the encoder can run in
    pieces side by side and the decoder once over all frames, which gives exactly the single
    pass's probabilities. Running the whole graph in pieces instead needs a warm-up per piece
    to rebuild the LSTM's state, and that is not faithful: on a 3-min telephone call 1100
    frames differed by more than 0.01 and 4 s of speech fell under the threshold (2026-12-01).
    One session of each per process, one core each, as faster-whisper creates its own.
    """
    import onnx
    import onnxruntime
    from faster_whisper.utils import get_assets_path
    from onnx.utils import Extractor

    extractor = Extractor(onnx.load(os.path.join(get_assets_path(), "silero_vad_v6.onnx")))
    halves = (
        extractor.extract_model(["input"], [SILERO_FEATURES]),
        extractor.extract_model([SILERO_FEATURES, "h", "c"], ["speech_probs", "hn", "cn"]),
    )
    options = onnxruntime.SessionOptions()
    options.inter_op_num_threads = options.intra_op_num_threads = 1
    options.enable_cpu_mem_arena = False
    options.log_severity_level = 4
    return tuple(
        onnxruntime.InferenceSession(half.SerializeToString(), options, providers=["CPUExecutionProvider"])
        for half in halves
    )


def speech_probabilities(audio: np.ndarray, parts: int = 1) -> np.ndarray:
    """Silero VAD speech probability for every 32 ms frame of ``audio`` (16 kHz mono).

    The same probabilities as faster-whisper's ``get_vad_model()(audio)`` (its model, frames
    and context), about 1.3 s per 10 minutes of audio on one core. ``parts > 1`` runs the
    stateless encoder (:func:`_silero_halves`) in that many pieces side by side (onnxruntime
    releases the GIL), then the LSTM once over every frame: the result does not depend on
    ``parts``.
    """
    if audio.ndim != 1:
        raise ValueError(f"expected mono audio (1-D array), got shape {audio.shape}")
    if audio.size == 0:
        return np.zeros(0, dtype=np.float32)
    encoder, decoder = _silero_halves()
    padded = np.pad(audio.astype(np.float32, copy=False), (0, (-audio.size) % VAD_FRAME))
    frames = padded.reshape(-1, VAD_FRAME)
    n_frames = len(frames)
    parts = max(1, min(parts, n_frames // VAD_MIN_PART_FRAMES))
    batches = [
        (lo, min(lo + VAD_BATCH_FRAMES, hi))
        for k in range(parts)
        for hi in [n_frames * (k + 1) // parts]
        for lo in range(n_frames * k // parts, hi, VAD_BATCH_FRAMES)
    ]

    def encode(batch: tuple[int, int]) -> np.ndarray:
        """Frames ``lo:hi``, each after the last 64 samples of the one before (zeros first),
        built per batch: for a 4-h recording the whole array would take 1 GB."""
        lo, hi = batch
        framed = np.zeros((hi - lo, VAD_CONTEXT + VAD_FRAME), dtype=np.float32)
        framed[:, VAD_CONTEXT:] = frames[lo:hi]
        framed[1:, :VAD_CONTEXT] = frames[lo : hi - 1, -VAD_CONTEXT:]
        if lo:
            framed[0, :VAD_CONTEXT] = frames[lo - 1, -VAD_CONTEXT:]
        return encoder.run(None, {"input": framed})[0]

    if parts == 1:
        features = [encode(batch) for batch in batches]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(parts, thread_name_prefix="vad") as pool:
            features = list(pool.map(encode, batches))
    state = np.zeros((1, 1, 128), dtype=np.float32)
    probs, _, _ = decoder.run(None, {SILERO_FEATURES: np.concatenate(features), "h": state, "c": state})
    return np.asarray(probs, dtype=np.float32).reshape(-1)


def silero_unsure(probs: np.ndarray, loud: np.ndarray | None = None) -> bool:
    """True when Silero is unsure of a recording more often than sure it hears speech: more
    frames between :data:`UNSURE_FLOOR` and :data:`GATE_THRESHOLD` than at or above it, and
    something heard: a frame at or above it, or :data:`SILERO_MIN_SPEECH_S` of unsure frames
    among the ``loud`` ones (:func:`loud_frames`). Hiss and clicks it is never sure of stay
    "no speech": steady noise has no frame above its own floor, four clicks in a quiet room
    one frame Silero is unsure of.

    Silero's scale sinks on audio unlike its training data. Over a telephone line (300-3400
    Hz, 8 kHz, line noise: the benchmark's ``telephone`` input) speech frames sit mostly at
    0.05-0.5 (median 0.08 where clean speech gives 0.7) while the pauses stay under 0.05.
    Read on the standard scale, most of a call was never decoded, and nothing said so: 10-22 %
    of the words deleted (seeds 0-2), and a short call refused as "no speech" (JFK's 11 s:
    0.13 s at 0.5; a 3-s LibriVox clip in a 7-s call: no frame at 0.5, 1.7 s unsure and
    loud). Such a recording is read on the lower scale
    (:attr:`SegmentationOptions.unsure_threshold`, and the gate with it). Measured on the
    benchmark's inputs, seeds 0-10: clean speech, quiet, sparse and paused inputs have
    0.11-0.29 unsure frames per sure one, telephone ones 2.0-9.7, a phone line without noise
    0.4-0.9; white noise at -40 to -14 dBFS (10-60 s) and room noise with clicks have no
    unsure frame that is loud.
    """
    sure = np.count_nonzero(probs >= GATE_THRESHOLD)
    unsure = (probs > UNSURE_FLOOR) & (probs < GATE_THRESHOLD)
    unsure_and_loud = np.count_nonzero(unsure & loud) if loud is not None else 0
    heard = sure > 0 or unsure_and_loud * FRAME_S >= SILERO_MIN_SPEECH_S
    return bool(heard and np.count_nonzero(unsure) > sure)


@dataclass(frozen=True)
class VoiceActivity:
    """One request's VAD, computed once and shared by the silence gate, the windows and
    the coverage check (faster-whisper's pattern: one ``get_speech_timestamps`` feeds all).

    ``probs`` holds Silero's speech probability for every ``VAD_FRAME`` of the recording.
    The gate asks "is there speech at all?" with Silero's standard 0.5; the windows and the
    coverage check use the hysteresis of :class:`SegmentationOptions` (0.3 / 0.15), which
    keeps quiet speech: same probabilities, two questions. On a recording Silero is
    ``unsure`` of (:func:`detect_speech`), all three read its lower scale: ``options`` are
    :meth:`SegmentationOptions.lowered`, and ``probs`` count its loud frames as speech.
    """

    probs: np.ndarray
    n_samples: int
    options: SegmentationOptions = SegmentationOptions()
    unsure: bool = False
    # frames of sound :data:`LOUD_DB` above the recording's floor (:func:`loud_frames`):
    # where a word the alignment runs across a joined pause belongs (timeline.WindowClock)
    loud: np.ndarray | None = None
    # each frame's power in dB (:func:`frame_power`): where a word is first heard
    # (:meth:`voice_onset`)
    level_db: np.ndarray | None = None

    def voice_onset(self, first: int, end: int, level_until: int | None = None) -> int | None:
        """Where a voice is first heard in frames ``first:end`` (one word's, as aligned): the
        first frame within :data:`LOUD_DB` of the loudest there, or :data:`LOUD_DB` over the
        floor around it (the power under which :data:`NOISE_FLOOR_PERCENTILE` % of the
        frames within :data:`ONSET_CONTEXT_S` stay); None without levels.

        Silero hears other people talking as speech too: in a crowd a sentence's first word,
        aligned over their talk, started where a talker's burst opened a speech region, up
        to 2.8 s before the sentence. Heard against the word's own loudest frame, their talk
        (15 dB under the speaker) is not the word; heard against the floor, neither is it
        (it is the floor). Each view alone fails elsewhere: a consonant onset is more than
        10 dB under its vowel (a clean clip's first word 0.22-0.25 s late), and a soft
        speaker over a phone line's noise stays within 10 dB of it (a sentence 0.55 s late);
        the earlier of the two is late on neither.

        The voice's loudest is taken up to ``level_until`` (the end of the word after it),
        where the word comes within :data:`LOUD_DB` of that: the alignment can end a first
        word a frame or two into its voice, having given it the talk before, and the word's
        own loudest frame is then the voice's first, the talk 7 dB under it ("He" aligned at
        91.17-92.29 s, the voice at 92.23 s: bench ``babble`` seed 101). A first word said
        more than 10 dB softer than the word after it is heard against its own loudest.
        """
        span = self._levels(first, end)
        if span is None:
            return None
        loudest = float(span.max())
        if level_until is not None and level_until > end:
            voice = self._levels(first, level_until)
            if voice is not None and (span >= float(voice.max()) - LOUD_DB).any():
                loudest = float(voice.max())
        own = first + int(np.flatnonzero(span >= loudest - LOUD_DB)[0])
        over = np.flatnonzero(span >= self._floor_around(first) + LOUD_DB)
        return min(own, first + int(over[0])) if over.size else own

    def rises_over_floor(self, first: int, end: int) -> bool | None:
        """Whether any frame of ``first:end`` stands :data:`LOUD_DB` over the floor around it
        (:meth:`voice_onset`'s floor); None without levels."""
        span = self._levels(first, end)
        return None if span is None else bool((span >= self._floor_around(first) + LOUD_DB).any())

    def _levels(self, first: int, end: int) -> np.ndarray | None:
        """The levels of frames ``first:end``; None without levels or frames there."""
        if self.level_db is None or end <= first or first >= self.level_db.size:
            return None
        return self.level_db[first:end]

    def _floor_around(self, frame: int) -> float:
        assert self.level_db is not None
        context = round(ONSET_CONTEXT_S / FRAME_S)
        around = self.level_db[max(0, frame - context) : frame + context]
        return float(np.percentile(around, NOISE_FLOOR_PERCENTILE))

    def speech_seconds(self, threshold: float = GATE_THRESHOLD) -> float:
        """Seconds of frames at or above ``threshold``."""
        return float(np.count_nonzero(self.probs >= threshold)) * FRAME_S

    @property
    def gate_threshold(self) -> float:
        """What the silence gate counts: Silero's 0.5, or the lower scale where it is unsure."""
        return self.options.unsure_threshold if self.unsure else GATE_THRESHOLD

    @functools.cached_property
    def regions(self) -> list[tuple[int, int]]:
        """Speech regions (frame ranges, unpadded) by :func:`speech_regions`."""
        return speech_regions(self.probs, self.options)

    @functools.cached_property
    def speech_mask(self) -> np.ndarray:
        """True for every frame inside a speech region."""
        return runs_mask(self.regions, len(self.probs))

    @functools.cached_property
    def sound_mask(self) -> np.ndarray:
        """:attr:`speech_mask` or ``loud``: where a word may be said though Silero missed it
        (a soft first word), which decides on which side of a pause a word goes."""
        return self.speech_mask if self.loud is None else self.speech_mask | self.loud


def detect_speech(
    audio: np.ndarray, options: SegmentationOptions | None = None, parts: int | None = None
) -> VoiceActivity:
    """Run Silero VAD once over ``audio``, raised by :func:`vad_gain` (see
    :func:`speech_probabilities`). On a recording Silero is unsure of (:func:`silero_unsure`),
    the frames :func:`loud_frames` finds are raised to its lower scale's threshold: they count
    as speech even where Silero heard none."""
    options = options or SegmentationOptions()
    power = frame_power(audio, VAD_FRAME)
    gain = _gain(power)
    heard = audio if gain == 1.0 else audio * np.float32(gain)
    probs = speech_probabilities(heard, parts=vad_parts() if parts is None else parts)
    floored = power + 1e-12  # digital silence has a level
    loud = _loud(floored)
    level = 10 * np.log10(floored)
    if not silero_unsure(probs, loud):
        probs = listen_again(heard, probs, loud, options)
        return VoiceActivity(probs, int(audio.size), options, loud=loud, level_db=level)
    raised = np.where(loud, np.maximum(probs, options.unsure_threshold), probs)
    return VoiceActivity(raised, int(audio.size), options.lowered(), unsure=True, loud=loud, level_db=level)


def vad_gain(audio: np.ndarray) -> float:
    """The gain that raises ``audio``'s sound to :data:`VAD_LEVEL_DBFS` (1.0 for a
    recording already as loud, or silent): what Silero hears, not what Whisper does.
    At most the gain that takes :data:`QUIETEST_SPEECH_DBFS` there (30 dB), so a recording of
    room tone alone, given to the engine without the silence gate, is not made loud.

    Silero's probabilities sink with the level; Whisper's features do not (its log-mel is
    scaled to each window's maximum). The bench's ``speech`` and ``sparse20`` (seeds 0, 12
    and 17, 5 minutes each) 30 and 40 dB quieter, rounded to 16 bits (loudest frames at -38
    to -48 dBFS: the silence gate lets them through): heard as they were, 95 % of clip starts
    within 0.5 s held on 2 runs of 12 (0.62-0.94 on the rest: Silero's onsets came late), 38
    words deleted; raised, on 8 of 12 (the other four 94 %: one clip each, such as JFK's
    soft "And"), 25 deleted. Shipped clips with a loudest frame at -63 dBFS: Silero heard
    none of their 23 s; raised, 22.7 s. Raised to -8 dBFS instead, all 12 runs held, but
    white noise at -26 and -20 dBFS became speech to the gate; at -14 dBFS, the same 8 of 12.
    Only raised, never lowered: relative levels inside a recording (a quiet second speaker)
    stay as they are, and a recording as loud as the level is heard as before (all of the
    bench's inputs but ``quiet``, and 27 of the 53 real recordings in ../shared).

    Its sound is the level of its loudest second (:func:`sound_level`), not of its loudest
    frame: a sound shorter than that sets nothing. One click of a handled recorder had set
    the raise, and the tests' long-form recording (six shipped clips) 55 dB down lost 81
    words with nothing in ``uncovered_speech``, against 5 without the click; a 0.5 s beep at
    -10 dBFS before it, 81 too (45 dB down: 10 against 4). Raised from its loudest second,
    3-4 with either. Steady noise is as loud in its loudest second as at its loudest, so room
    tone is raised as before; speech is raised more (its loudest second is under its loudest
    vowel: 3.5 dB in the median of the 67 recordings of ``tests/data`` and ../shared), the
    bench's ``quiet`` inputs 3-4 dB. On the 22 bench runs this moved (``quiet`` of seeds
    100-108 and held-out quiet, slow and repeated speech), old and new alternating: errors
    249 -> 251, deletions 45 -> 49, every clip start the same; on the 67 recordings, the same
    text but five (punctuation, and a quiet conversation's missing words found).
    """
    return _gain(frame_power(audio, VAD_FRAME))


def _gain(power: np.ndarray) -> float:
    """:func:`vad_gain` of frames of ``power``: computed once per request with the loud
    frames and the levels (:func:`detect_speech`)."""
    loudest = sound_level(power)
    if loudest <= 0.0:
        return 1.0
    most = 10 ** ((VAD_LEVEL_DBFS - QUIETEST_SPEECH_DBFS) / 20)
    return min(most, max(1.0, 10 ** (VAD_LEVEL_DBFS / 20) / float(np.sqrt(loudest))))


SUSTAINED_FRAMES = 3  # 96 ms: a vowel lasts this long; a click (2 frames at most) does not


LEVEL_SOUND_S = 1.0  # a recording's level: its loudest second of sound in all ...
LEVEL_SHARE = 0.1  # ... or the loudest tenth of its sound, where it holds less than 10 s


def sound_level(power: np.ndarray, frames: int = SUSTAINED_FRAMES) -> float:
    """The power a recording's loudest second of sound reaches in all (the loudest tenth of
    its sound, where it holds less than ten seconds), each sound as loud as ``frames`` frames
    in a row are and its sound what is :data:`LOUD_DB` over its floor (as :func:`_loud`):
    the level of what it holds most of, which no click, beep or knock sets. The same for the
    recording at any gain."""
    if power.size < frames:
        return float(power.max()) if power.size else 0.0
    sustained = np.lib.stride_tricks.sliding_window_view(power, frames).min(axis=1)
    floor = np.percentile(sustained, NOISE_FLOOR_PERCENTILE)
    sound = int(np.count_nonzero(sustained > floor * 10 ** (LOUD_DB / 10)))
    k = max(1, min(round(LEVEL_SOUND_S / FRAME_S), math.ceil(LEVEL_SHARE * sound)))
    return float(np.partition(sustained, -k)[-k])


def listen_again(
    audio: np.ndarray, probs: np.ndarray, loud: np.ndarray, options: SegmentationOptions
) -> np.ndarray:
    """``probs`` with each loud stretch that no speech region holds heard again by a fresh
    Silero: its probabilities there the higher of the two.

    Silero carries its state from frame to frame, and after a long pause of near digital
    silence (an edited recording, a pause inserted in a clip) that state can lag behind the
    speech that follows: "on the left", said 40 dB above the pause after 4 s of it, got
    0.00-0.19 in the single pass (so it was never decoded: three words deleted), 0.94 from
    Silero started afresh half a second before it. Only the stretches of at least
    :data:`SILERO_MIN_SPEECH_S` of :func:`loud_frames` outside every speech region as a
    window holds it (:func:`padded_regions`) are heard again, each after
    :data:`RELISTEN_CONTEXT_S` of what precedes it: 11-14 s of the bench's 10-min
    ``speech`` inputs (breaths, the clips' own room tone), and at worst Silero twice over
    a recording (about 0.1 s a minute of audio on one core). What Silero then calls speech
    is decoded as any other; a tone, a knock or a burst of noise it still calls silence
    stays so.
    """
    heard = runs_mask(padded_regions(speech_regions(probs, options), len(probs), options), len(probs))
    context = round(RELISTEN_CONTEXT_S / FRAME_S)
    again = probs
    for s, e in mask_runs(loud[: len(probs)] & ~heard, round(options.min_silence_s / FRAME_S)):
        if (e - s) * FRAME_S < SILERO_MIN_SPEECH_S:
            continue
        first = max(0, s - context)
        fresh = speech_probabilities(audio[first * VAD_FRAME : e * VAD_FRAME])[s - first :]
        if again is probs:
            again = probs.copy()
        again[s : s + fresh.size] = np.maximum(again[s : s + fresh.size], fresh)
    return again


def mask_runs(mask: np.ndarray, max_gap: int = 0) -> list[tuple[int, int]]:
    """``(first, end)`` frame ranges where ``mask`` holds, in order, gaps of up to
    ``max_gap`` frames joined."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    runs: list[tuple[int, int]] = []
    for s, e in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
        if runs and s - runs[-1][1] <= max_gap:
            runs[-1] = (runs[-1][0], e)
        else:
            runs.append((s, e))
    return runs


def runs_mask(runs: Sequence[tuple[int, int]], n_frames: int) -> np.ndarray:
    """A frame mask of ``n_frames`` that holds on ``runs`` (``(first, end)`` frame ranges):
    the inverse of :func:`mask_runs`."""
    mask = np.zeros(n_frames, dtype=bool)
    for s, e in runs:
        mask[s:e] = True
    return mask


def loud_frames(audio: np.ndarray) -> np.ndarray:
    """True for each :data:`VAD_FRAME` at least :data:`LOUD_DB` above the recording's noise
    floor (the power its quietest :data:`NOISE_FLOOR_PERCENTILE` % of frames stay under).

    A second opinion where Silero has lost its footing. Over a telephone line its state
    drifts: on the benchmark's ``telephone`` input (seed 1) JFK's 11 s got a median speech
    probability of 0.005 in the single pass, 0.23 with Silero started afresh 1 s before it,
    and 4 % of the pause frames reach 0.05, so no threshold on Silero's scale keeps that
    speech without the pauses. The line's noise is steady and the speech stands well above
    it: with these frames, the frames of the calls' clips inside a speech region went from
    68-86 % to 84-88 % (seeds 0-4), the pause frames inside one stayed at 2-4 %.
    """
    return _loud(frame_power(audio, VAD_FRAME) + 1e-12)


def _loud(power: np.ndarray) -> np.ndarray:
    """:func:`loud_frames` of frames of ``power`` (positive)."""
    if power.size == 0:
        return np.zeros(0, dtype=bool)
    return power >= np.percentile(power, NOISE_FLOOR_PERCENTILE) * 10 ** (LOUD_DB / 10)


def frame_power(audio: np.ndarray, frame: int) -> np.ndarray:
    """Mean power (mean square) of each ``frame`` samples of ``audio``, in order; a last,
    shorter frame counts over its own samples. The one energy measure of the endpoint (the
    loud frames of a call, the silence gate's loudest frame) and of the benchmark."""
    whole = audio.size // frame  # frames as views of the audio
    frames = audio[: whole * frame].reshape(whole, frame)
    power = np.einsum("ij,ij->i", frames, frames) / frame
    tail = audio[whole * frame :]
    return np.append(power, tail @ tail / tail.size) if tail.size else power


def usable_cpu_count() -> int:
    """Cores this process may run on (cgroup/affinity aware), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def vad_parts() -> int:
    """How many pieces :func:`speech_probabilities` should run at once on this machine."""
    return min(VAD_MAX_PARTS, usable_cpu_count())


def speech_regions(probs: np.ndarray, options: SegmentationOptions) -> list[tuple[int, int]]:
    """Speech regions as ``(first_frame, end_frame)`` pairs (end exclusive), unpadded.

    Hysteresis: a region starts at ``threshold`` and continues through dips until the
    probability has stayed under ``neg_threshold`` for ``min_silence_s`` (both lower on a
    recording Silero is unsure of: :meth:`SegmentationOptions.lowered`).
    """
    min_silence = max(1, round(options.min_silence_s / FRAME_S))
    min_speech = max(1, round(options.min_speech_s / FRAME_S))
    regions: list[tuple[int, int]] = []
    start: int | None = None
    last_speech = 0
    for i, p in enumerate(probs.tolist()):
        if start is None:
            if p >= options.threshold:
                start, last_speech = i, i
        elif p >= options.neg_threshold:
            last_speech = i
        elif i - last_speech >= min_silence:
            if last_speech + 1 - start >= min_speech:
                regions.append((start, last_speech + 1))
            start = None
    if start is not None and last_speech + 1 - start >= min_speech:
        regions.append((start, last_speech + 1))
    return regions


def plan_windows(
    probs: np.ndarray, n_samples: int, options: SegmentationOptions | None = None
) -> list[Window]:
    """Windows (sample ranges) that cover all detected speech, each at most ``max_window_s``.

    Returns an empty list when nothing in the recording is speech.
    """
    opts = options or SegmentationOptions()
    return pack_regions(speech_regions(probs, opts), probs, n_samples, opts)


def pack_regions(
    regions: Sequence[tuple[int, int]],
    probs: np.ndarray,
    n_samples: int,
    options: SegmentationOptions | None = None,
) -> list[Window]:
    """Windows for the given speech regions (frame ranges): each padded by ``pad_s``,
    merged where the padding makes them touch, packed into <= ``max_window_s`` windows.

    :func:`plan_windows` packs every region; the engines pack just the regions that came
    back without text, to decode them again on their own.
    """
    opts = options or SegmentationOptions()
    padded = padded_regions(regions, len(probs), opts)
    return _pack(padded, probs, int(opts.max_window_s / FRAME_S), n_samples, opts)


def padded_regions(
    regions: Sequence[tuple[int, int]], n_frames: int, options: SegmentationOptions
) -> list[tuple[int, int]]:
    """``regions`` (frame ranges, in order) each widened by ``pad_s`` on both sides within
    the recording's ``n_frames``, merged where they then touch: what a window decodes of
    each region, and so what :func:`listen_again` counts as already heard."""
    pad = round(options.pad_s / FRAME_S)
    padded: list[tuple[int, int]] = []
    for s, e in regions:
        s, e = max(0, s - pad), min(n_frames, e + pad)
        if padded and s <= padded[-1][1]:
            padded[-1] = (padded[-1][0], max(padded[-1][1], e))
        else:
            padded.append((s, e))
    return padded


def _pack(
    regions: Sequence[Sequence[int]],
    probs: np.ndarray,
    max_frames: int,
    n_samples: int,
    opts: SegmentationOptions,
) -> list[Window]:
    """Greedy packing, in order: a window takes regions while their total fits, and when
    the next region does not fit, the part of it that does, up to a pause between
    sentences (at least ``min_silence_s``, where a region could have ended), fills the
    window; with no such pause, the region starts the next window whole. Only a region
    longer than a window is cut at a word gap (a shorter pause), or without one at its
    quietest moment.

    Fewer, fuller windows is what makes long recordings fast: the encoder costs the same
    for every window however much speech it holds. But a window that ends a word gap into
    a sentence loses words at the joint: "He began a con" at the end of one window, left
    out, and "fused complaint" opening the next, read "used complaint" (bench `telephone`
    seed 13). Cut only between sentences, errors on 42 runs (seeds 0-2 and 12-14, seven
    inputs each) 1007 -> 973 (substitutions and insertions at the joints; deletions 136 ->
    142, spread over the runs), the windows 383 -> 379. (Counted on the smoothed
    probabilities instead, where a 0.3 s pause reads shorter: 971 errors, 381 windows.)
    """
    smooth = _smooth(probs)
    word_gap = smooth < opts.neg_threshold  # smoothed: not a one-frame dip
    sentence_gap = probs < opts.neg_threshold  # where a region could have ended, if long enough
    min_piece = round(opts.min_piece_s / FRAME_S)
    min_silence = round(opts.min_silence_s / FRAME_S)
    min_split = min(int(opts.min_split_s / FRAME_S), max_frames // 2)
    windows: list[Window] = []
    current: list[tuple[int, int]] = []
    used = 0
    for region in regions:
        s, e = int(region[0]), int(region[1])
        while True:
            room = max_frames - used
            if e - s <= room:
                current.append((s, e))
                used += e - s
                break
            cut = _last_pause(sentence_gap, s + min_piece, s + room, min_silence)
            if cut is None and e - s > max_frames:  # longer than a window: its last word gap that fits
                cut = _last_pause(word_gap, s + min_piece, s + room)
            if cut is None and not current:  # a window of speech without a pause: cut at its quietest
                lo = s + min(min_split, room - 1)
                cut = lo + int(np.argmin(smooth[lo : s + room]))
            if cut is not None:
                current.append((s, cut))
                s = cut
            windows.append(_to_window(current, n_samples, probs, opts.threshold))
            current, used = [], 0
    if current:
        windows.append(_to_window(current, n_samples, probs, opts.threshold))
    return windows


def _last_pause(quiet: np.ndarray, lo: int, hi: int, min_width: int = 1) -> int | None:
    """The middle of the latest pause (a run of ``quiet`` frames at least ``min_width`` long,
    counted on to where it ends) that reaches into ``[lo, hi)``; the middle of its part there.

    The middle, not the edge: the cut then leaves some of the pause on both sides, so the
    word before it keeps its release and the word after it its onset.
    """
    if hi <= lo:
        return None
    inside = np.flatnonzero(quiet[lo:hi]) + lo
    while inside.size:
        last = int(inside[-1])
        start = end = last
        while start > 0 and quiet[start - 1]:
            start -= 1
        while end + 1 < quiet.size and quiet[end + 1]:
            end += 1
        if end - start + 1 >= min_width:
            return (max(start, lo) + last + 1) // 2
        inside = inside[inside < start]
    return None


def _smooth(probs: np.ndarray, width: int = 5) -> np.ndarray:
    """Moving average, so a cut lands in a real pause and not on a one-frame dip."""
    if probs.size <= width:
        return probs
    kernel = np.ones(width, dtype=np.float32) / width
    return np.convolve(probs, kernel, mode="same")


def _to_window(pieces: list[tuple[int, int]], n_samples: int, probs: np.ndarray, threshold: float) -> Window:
    speech_frames = sum(int(np.count_nonzero(probs[s:e] >= threshold)) for s, e in pieces)
    return Window(
        tuple((s * VAD_FRAME, min(n_samples, e * VAD_FRAME)) for s, e in pieces),
        speech_s=round(speech_frames * FRAME_S, 3),
    )
