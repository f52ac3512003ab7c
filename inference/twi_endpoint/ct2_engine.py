"""Whisper on CTranslate2 (through faster-whisper's model wrapper): batched, greedy (beam search
where ``TWI_ASR_BEAM_SIZE`` asks for it), VAD-cut, with timestamps and word times, checked
against the VAD so that no sentence is lost silently.

* Silero VAD runs once per request (:class:`twi_endpoint.segmentation.VoiceActivity`); its
  speech is packed into <=30 s windows cut only in pauses, so no word is split between
  windows and silence is never decoded.
* The windows are independent, so they are encoded and decoded in batches (one GEMM instead
  of many GEMVs per decoder step), each encoded on its own audio rounded up to 10, 20 or
  30 s (:func:`encoder_samples`; Whisper's padding to 30 s costs the encoder as much as
  speech), *with* Whisper's timestamp tokens: each sentence comes
  back with its own times. The words are then aligned on the encoder output already
  computed (CTranslate2's cross-attention alignment, as faster-whisper does), and
  :mod:`twi_endpoint.timeline` puts sentences and words on the recording's timeline and
  onto the speech the VAD found, cutting segments at pauses of over 1 s and to at most 10 s.
* Whisper sometimes jumps over a sentence (after a long pause, in slow hesitant speech).
  Instead of guessing from text length, every speech region the VAD found is checked
  against the words (:mod:`twi_endpoint.coverage`): speech of a second or more that no
  segment holds is decoded again on its own, batched, and so is the speech after a
  window's last timestamp where its decoder opened a segment and stopped (where Whisper's
  own sequential decoding would seek to: :func:`twi_endpoint.timeline.seek_point`); what
  is still uncovered after that is reported in the result, never dropped in silence.
* A window whose result looks broken (repetition loop, very low log-probability) is decoded
  again with beam 5, and a loop neither gets out of is left out of the transcript (its
  speech decoded again on its own, then reported); a window the model calls "no speech"
  with low confidence in its text produces nothing. A loop that ran to the token budget
  (the decoder never reached its end of text) is first decoded again as text alone,
  greedy, its words timed by the alignment: cheaper than the beam, and where the timestamp
  mode ran away (answers said by turns), out of the loop.
* Several recordings (a coalesced request of short files) are transcribed together
  (:meth:`CTranslate2Engine.transcribe_many`): their windows fill the same batches, so a
  few short files keep the batch, and on CPU both replicas, busy instead of decoding one
  window at a time. A window never holds two recordings, and each row of a batch is
  prompted with its own recording's language and task: the decoder attends only to its
  own row, so no recording's audio or text conditions another's decoding.

The model is loaded once (:func:`load_ctranslate2_engine`) and reused by every request:
int8 on CPU (two replicas sharing the usable cores, working on different windows at once),
float16 on CUDA. On a CPU with matrix units (Intel AMX) the encoder runs on PyTorch in
bfloat16 instead, from the same weights (:mod:`twi_endpoint.torch_encoder`: 2.2x on a 30 s
window, 2 cores); with bfloat16 vector instructions only (AMD Zen 4), for the input lengths
it measures faster on when the engine loads (there: 30 s inputs).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.tokenizer import _LANGUAGE_CODES, Tokenizer
from twi_contract import NO_LANGUAGE_TOKEN

from twi_endpoint.coverage import RECOVERY_ROUNDS, finished, recover_uncovered_many
from twi_endpoint.errors import InvalidRequestError, ModelLoadError
from twi_endpoint.hallucination import compression_ratio, is_loop
from twi_endpoint.segmentation import (
    SegmentationOptions,
    VoiceActivity,
    Window,
    detect_speech,
    plan_windows,
    usable_cpu_count,
    vad_parts,
)
from twi_endpoint.settings import DEFAULT_BEAM_SIZE, checked_beam_size
from twi_endpoint.timeline import WindowClock, loops_in_one_piece, place_window, window_segments
from twi_endpoint.torch_encoder import (
    TorchEncoder,
    bfloat16_units,
    faster_encoders,
    machine_key,
    read_encoder_weights,
    remembered_choice,
)
from twi_endpoint.types import (
    CHUNK_SECONDS,
    ENCODER_FRAMES_PER_SECOND,
    N_SAMPLES,
    SAMPLE_LEN,
    SAMPLE_RATE,
    WHISPER_TEXT_CONTEXT,
    DecodeOptions,
    RecordingRequest,
    Segment,
    Transcription,
    Word,
    token_budget,
)

log = logging.getLogger(__name__)

ENGINE_NAME = "ctranslate2"
CPU_BATCH_SIZE = 16  # decoder batch; 2 cores, 10 min: 16 was ~4 % faster than 8, same text
CUDA_BATCH_SIZE = 16
CPU_ENCODER_BATCH_SIZE = 1  # see CTranslate2Engine._encode
# On CPU, model replicas that each use part of the cores, working on different windows at
# once, beat one replica using every core: the decoder's per-token matrices are too small to
# keep many threads busy. 2 cores, 16 windows: 2 replicas x 1 thread encoded 7 % and decoded
# 34 % faster than 1 replica x 2 threads. (On CUDA one replica drives the GPU.)
CPU_MAX_REPLICAS = 2
CUDA_ENCODER_BATCH_SIZE = 64
CPU_COMPUTE_TYPE = "int8"
CUDA_COMPUTE_TYPE = "float16"


WINDOW_TAIL_S = 1.0  # quiet tail after each window's audio (see CTranslate2Engine._log_mel)
_QUIET_TAIL = (np.random.default_rng(0).standard_normal(int(WINDOW_TAIL_S * SAMPLE_RATE)) * 3e-4).astype(
    np.float32
)  # about -70 dBFS, like the room noise of a quiet recording


ENCODER_STEP_S = 10  # encoder inputs are 10, 20 or 30 s long (see encoder_samples)
MEL_FRAMES_PER_S = 100  # log-mel frames: Whisper's hop of 160 samples at 16 kHz
ENCODER_INPUT_FRAMES = tuple(
    s * MEL_FRAMES_PER_S for s in range(ENCODER_STEP_S, CHUNK_SECONDS + 1, ENCODER_STEP_S)
)  # (1000, 2000, 3000)

# The faster encoder for each input length, of each (model directory, threads) loaded in
# this process, on a CPU where it is timed (CTranslate2Engine._pick_cpu_encoder): measured
# once a machine (~4 s on 2 cores), remembered for its other processes (torch_encoder.
# remembered_choice).
_ENCODER_CHOICE: dict[tuple[str, int], dict[int, str]] = {}


def _encode_torch(encoder: TorchEncoder, mels: list[np.ndarray]) -> Any:
    """``encoder``'s outputs for a batch of windows as one StorageView for the decoder:
    window by window, each over every core (as the engine runs it and as it is timed)."""
    return ctranslate2.StorageView.from_array(np.concatenate([encoder(mel[None]) for mel in mels]))


def encoder_samples(duration_s: float) -> int:
    """Samples of the encoder input for a window of ``duration_s`` seconds of audio: the audio
    and its quiet tail, rounded up to whole steps of ``ENCODER_STEP_S``, at most Whisper's 30 s.

    Whisper pads every input with silence to 30 s, and the encoder pays for the padding as
    for speech (its attention grows with the square of the length). CTranslate2 encodes a
    shorter input on the first of Whisper's 1500 positions, so a short window (a short file,
    the last window of a recording, speech decoded again) is encoded on 10 or 20 s. Steps,
    not the exact length: windows of one size share a decoder batch, and the decoder keeps
    at least 10 s of context. Measured (2 cores, whisper-base int8): 26 clips of 3-30 s each
    alone 2.4x faster, WER 7.32 -> 6.94 %; long recordings (bench seeds 0-3, 5, 8, six inputs
    each) 0-20 % faster, errors 877 -> 887 (most text the same). Steps of 5 s wrote more
    words wrong (seeds 0-1: 255 -> 261 errors, against 255 with 10 s).
    """
    step = ENCODER_STEP_S * SAMPLE_RATE
    need = round(duration_s * SAMPLE_RATE) + _QUIET_TAIL.size
    return int(min(N_SAMPLES, -(-need // step) * step))


_T = TypeVar("_T")


def batches_of_one_size(
    items: Iterable[_T],
    seconds: Callable[[_T], float],
    batch_size: int,
    keep: Callable[[_T], bool] = lambda _: True,
) -> Iterator[list[_T]]:
    """``items`` by the size of their encoder input (:func:`encoder_samples` of
    ``seconds(item)``; the largest first, in order within a size), ``batch_size`` at a time:
    the rows of one encoder call and one decoder batch share one size. ``keep`` is asked of
    each item just before it joins a batch (after the batches before it were used), so an
    item that became moot meanwhile is left out."""
    size = 0
    batch: list[_T] = []
    for item in sorted(items, key=lambda it: -encoder_samples(seconds(it))):
        if not keep(item):
            continue
        item_size = encoder_samples(seconds(item))
        if batch and (len(batch) == batch_size or item_size != size):
            yield batch
            batch = []
        batch.append(item)
        size = item_size
    if batch:
        yield batch


@dataclass(frozen=True)
class Ct2DecodeSettings:
    """Decoding knobs. The defaults are what the benchmark measured as fastest at full accuracy."""

    # Greedy (twi_endpoint.settings.DEFAULT_BEAM_SIZE): with timestamp tokens and the
    # coverage check, beam search bought fewer errors on degraded audio only, for 1.13-1.46x
    # the time (beam 2-5); TWI_ASR_BEAM_SIZE chooses another.
    beam_size: int = DEFAULT_BEAM_SIZE
    fallback_beam_size: int = 5  # re-decode of windows that look broken (where beam_size is less)
    text_retry: bool = True  # a loop to the token budget decoded again without timestamps first
    no_speech_threshold: float = 0.6  # Whisper's own silence rule, with log_prob_threshold
    log_prob_threshold: float = -1.0
    max_new_tokens: int = SAMPLE_LEN  # tokens a window may generate
    recovery_rounds: int = RECOVERY_ROUNDS  # uncovered speech decoded again on its own
    median_filter_width: int = 7  # smoothing of the alignment heads' attention (Whisper's value)


class _RequestState:
    """What one recording settles in the first batch that holds a window of it: language and
    prompt token (given or detected), tokenizer."""

    def __init__(self, options: DecodeOptions) -> None:
        self.language: str | None = options.language
        self.token: str | None = options.language_token
        self.language_source = "config" if options.language else "detected"
        self.task = options.task
        self.tokenizer: Any = None


@dataclass(eq=False)
class _Recording:
    """One recording of a :meth:`CTranslate2Engine.transcribe_many` call on its way through
    the shared batches: what it asks for, what it has settled, what was decoded of it."""

    audio: np.ndarray
    options: DecodeOptions
    activity: VoiceActivity
    state: _RequestState
    segments: list[Segment] = field(default_factory=list)
    decoded_windows: int = 0
    error: Exception | None = None  # what failed this recording alone; its windows are skipped


@dataclass(frozen=True, eq=False)
class _Job:
    """One window to decode: ``window`` of ``recording``, which is ``recordings[index]`` of
    :meth:`CTranslate2Engine._transcribe_windows` (where its segments go). Told apart by
    identity: each job's segments are kept by job while the batches run by size."""

    index: int
    recording: _Recording
    window: Window


@dataclass(frozen=True)
class _Decoded:
    text: str
    tokens: list[int]  # text and timestamp tokens, without the end of text
    avg_logprob: float
    no_speech_prob: float
    ran_out: bool = False  # stopped at the token budget, not at its end of text

    @property
    def compression_ratio(self) -> float:
        return compression_ratio(self.text)


class CTranslate2Engine:
    """The :class:`twi_endpoint.types.Engine` for CTranslate2 Whisper model directories."""

    name = ENGINE_NAME

    def __init__(
        self,
        model_dir: Path,
        device: str,
        compute_type: str,
        batch_size: int,
        cpu_threads: int,
        decode: Ct2DecodeSettings | None = None,
        segmentation: SegmentationOptions | None = None,
        cpu_encoder: str = "auto",
    ) -> None:
        self.model_name = model_dir.name
        self.device = device
        self.replicas = 1 if device == "cuda" else max(1, min(CPU_MAX_REPLICAS, cpu_threads))
        self.vad_parts = vad_parts()
        self.batch_size = batch_size
        self.encoder_batch_size = CUDA_ENCODER_BATCH_SIZE if device == "cuda" else CPU_ENCODER_BATCH_SIZE
        self.decode = decode or Ct2DecodeSettings()
        self.segmentation = segmentation or SegmentationOptions()
        self._whisper = WhisperModel(
            str(model_dir),
            device=device,
            compute_type=compute_type,
            cpu_threads=max(1, cpu_threads // self.replicas),  # threads per replica
            num_workers=self.replicas,
            local_files_only=True,
        )
        self._model = self._whisper.model  # ctranslate2.models.Whisper
        self.dtype: str = str(self._model.compute_type)  # what CTranslate2 really chose
        self._features = self._whisper.feature_extractor
        self._lock = threading.Lock()  # one request at a time on one model instance
        self._pool = (
            ThreadPoolExecutor(self.replicas, thread_name_prefix="ct2") if self.replicas > 1 else None
        )
        # One window alone (a short file, a window decoded again, the odd one of a batch) on
        # one replica leaves the other cores idle: its encoder (CTranslate2's) and alignment
        # run on a second instance of the same weights that spreads one window over every
        # core. 2 cores, one 30 s window: encoder 1.93 -> 1.03 s; the same text. Not its
        # decoding (:meth:`_generate`): a decoder step's matrices are too small to share.
        self._solo = (
            ctranslate2.models.Whisper(
                str(model_dir),
                device=device,
                compute_type=compute_type,
                inter_threads=1,
                intra_threads=cpu_threads,
            )
            if self.replicas > 1
            else None
        )
        # PyTorch's encoder where it runs, and the input lengths (frames) that stay on
        # CTranslate2's even so (where the two were timed and CTranslate2's won there)
        self._torch_encoder, self._ct2_frames = (
            self._pick_cpu_encoder(model_dir, cpu_threads, cpu_encoder)
            if device == "cpu"
            else (None, frozenset())
        )
        if self._torch_encoder is not None:
            torch_s = [f // MEL_FRAMES_PER_S for f in ENCODER_INPUT_FRAMES if f not in self._ct2_frames]
            self.dtype += (
                " (encoder bfloat16)"
                if not self._ct2_frames
                else f" (encoder bfloat16 on {', '.join(map(str, torch_s))} s inputs)"
            )

    # --- public ---------------------------------------------------------------------
    @property
    def beam_size(self) -> int:
        """Hypotheses the first decoding of each window keeps (1: greedy)."""
        return self.decode.beam_size

    def transcribe(
        self, audio: np.ndarray, options: DecodeOptions, activity: VoiceActivity | None = None
    ) -> Transcription:
        """Transcribe mono float32 audio at 16 kHz of any length (see module docstring):
        :meth:`transcribe_many` with one recording, so both take one code path."""
        (answer,) = self.transcribe_many([(audio, options, activity)])
        if isinstance(answer, Exception):
            raise answer
        return answer

    def transcribe_many(self, requests: Sequence[RecordingRequest]) -> list[Transcription | Exception]:
        """Transcribe several recordings, their windows encoded and decoded together in
        batches of ``batch_size`` (:meth:`_transcribe_windows`), then their uncovered speech
        decoded again, also in shared batches. Each recording keeps its own language (given
        or detected from its own windows), task, VAD and result. What fails one recording
        alone (audio that is not mono float samples, a language or task this model lacks)
        is returned in its place; the others go on."""
        prepared: list[_Recording | Exception] = []
        with self._lock:
            for audio, options, activity in requests:
                try:
                    checked = _check_audio(audio)
                except (TypeError, ValueError) as exc:
                    prepared.append(exc)
                    continue
                if activity is None:
                    activity = detect_speech(checked, self.segmentation, parts=self.vad_parts)
                prepared.append(_Recording(checked, options, activity, _RequestState(options)))
            recordings = [r for r in prepared if isinstance(r, _Recording)]
            plans = [plan_windows(r.activity.probs, r.audio.size, r.activity.options) for r in recordings]
            unwritten: list[list[tuple[float, float]]] = [[] for _ in recordings]
            found = self._transcribe_windows(recordings, plans, unwritten)
            for recording, windows, segments in zip(recordings, plans, found, strict=True):
                recording.segments, recording.decoded_windows = segments, len(windows)
            alive = [r for r in recordings if r.error is None]
            recovered = recover_uncovered_many(
                [(r.segments, r.activity) for r in alive],
                lambda again: self._transcribe_windows(alive, again),
                self.decode.recovery_rounds,
                [windows for r, windows in zip(recordings, plans, strict=True) if r.error is None],
                [left for r, left in zip(recordings, unwritten, strict=True) if r.error is None],
            )
            for recording, (segments, again) in zip(alive, recovered, strict=True):
                recording.segments = segments
                recording.decoded_windows += again
        return [
            r if isinstance(r, Exception) else r.error if r.error is not None else _transcription(r)
            for r in prepared
        ]

    # --- internals ---------------------------------------------------------------------
    def _transcribe_windows(
        self,
        recordings: list[_Recording],
        windows: list[list[Window]],
        unwritten: list[list[tuple[float, float]]] | None = None,
    ) -> list[list[Segment]]:
        """Encode, decode and time ``windows[k]`` of each ``recordings[k]``, all of them in
        shared batches of ``batch_size``; the segments of each recording. ``unwritten[k]``,
        where given, gets what the decoders left of ``recordings[k]`` after their seek points
        (:func:`twi_endpoint.timeline.seek_point`).

        Each row of a batch is one window of one recording, prompted with that recording's
        own language and task. A recording whose prompt cannot be settled leaves the batch
        (its error recorded, the other rows decoded) and its later windows are skipped.
        """
        jobs = [_Job(k, recordings[k], w) for k, ws in enumerate(windows) for w in ws]
        found: dict[_Job, list[Segment]] = {}  # by job: batches run by size, results go in window order
        for batch in self._batches(jobs):
            encoded = self._encode([self._log_mel(job.window.audio(job.recording.audio)) for job in batch])
            self._settle_prompts(encoded, batch)
            rows = [i for i, job in enumerate(batch) if job.recording.error is None]
            if not rows:
                continue
            encoded, batch = _rows(encoded, rows), [batch[i] for i in rows]
            clocks = [WindowClock(job.window, job.recording.activity) for job in batch]
            decoded = self._decode_batch(
                encoded,
                [job.recording.state.tokenizer for job in batch],
                [job.window.duration_s for job in batch],
                clocks,
            )
            for job, timed in zip(batch, self._timed(encoded, batch, decoded, clocks), strict=True):
                found[job] = timed
            if unwritten is not None:
                for job, d, clock in zip(batch, decoded, clocks, strict=True):
                    tokenizer = job.recording.state.tokenizer
                    if d.ran_out or self._is_silence(d):
                        continue
                    left = clock.unwritten(d.tokens, tokenizer.timestamp_begin, tokenizer.eot)
                    if left is not None:
                        unwritten[job.index].append(left)
        segments: list[list[Segment]] = [[] for _ in recordings]
        for job in jobs:
            segments[job.index] += found.get(job, [])
        return segments

    def _batches(self, jobs: list[_Job]) -> Iterator[list[_Job]]:
        """``jobs`` in batches of one encoder size (:func:`batches_of_one_size`), leaving out
        the windows of a recording that failed meanwhile."""
        return batches_of_one_size(
            jobs,
            lambda job: job.window.duration_s,
            self.batch_size,
            keep=lambda job: job.recording.error is None,
        )

    def _settle_prompts(self, encoded: Any, batch: list[_Job]) -> None:
        """Settle language and tokenizer (the prompt) of each recording that this batch
        meets first. One asked for none is detected from its own longest window here (most
        evidence for the guess). A language or task this model lacks fails that recording."""
        first_rows: dict[_Recording, list[int]] = {}
        for i, job in enumerate(batch):
            if job.recording.state.tokenizer is None and job.recording.error is None:
                first_rows.setdefault(job.recording, []).append(i)
        longest = {
            recording: max(rows, key=lambda i: batch[i].window.duration_s)
            for recording, rows in first_rows.items()
            if recording.state.language is None
        }
        detected = self._detect_languages(encoded, list(longest.values()))
        for recording in first_rows:
            state = recording.state
            if state.language is None:
                state.language = state.token = detected[longest[recording]]
            try:
                state.tokenizer = self._tokenizer(state.token, state.task)
            except (InvalidRequestError, ValueError) as exc:
                recording.error = exc

    def _timed(
        self, encoded: Any, batch: list[_Job], decoded: list[_Decoded], clocks: list[WindowClock]
    ) -> list[list[Segment]]:
        """Each window's timestamped segments on its recording's timeline (``clocks``: each
        row's window), placed by their word times (every window: the words put each sentence
        on its speech and show what the decoder skipped); one list per row of the batch."""
        tokenizers = [job.recording.state.tokenizer for job in batch]
        per_window = [
            []
            if self._is_silence(d)
            else [
                (seg, timed.tokens)
                for seg, timed in window_segments(
                    d.tokens,
                    clock,
                    tokenizer.timestamp_begin,
                    tokenizer.eot,
                    tokenizer.decode,
                    job.recording.activity,
                    d.ran_out,
                )
            ]
            for job, tokenizer, clock, d in zip(batch, tokenizers, clocks, decoded, strict=True)
        ]
        rows = [i for i, segs in enumerate(per_window) if segs]
        words = self._align(
            encoded,
            rows,
            [clocks[i] for i in rows],
            [per_window[i] for i in rows],
            [tokenizers[i] for i in rows],
        )
        placed: list[list[Segment]] = [[] for _ in batch]
        for i, seg_words in zip(rows, words, strict=True):
            activity = batch[i].recording.activity
            segments = [seg for seg, _ in per_window[i]]
            placed[i] = place_window(list(zip(segments, seg_words, strict=True)), clocks[i], activity)
        return placed

    def _align(
        self,
        encoded: Any,
        rows: list[int],
        clocks: list[WindowClock],
        timed: list[list[tuple[Segment, list[int]]]],
        tokenizers: list[Any],
    ) -> list[list[list[Word]]]:
        """Word times of each segment of the windows of ``clocks`` (rows ``rows`` of the
        encoded batch).

        CTranslate2's ``align`` takes one start sequence for all its rows, so rows are
        aligned in groups of the same prompt: recordings of different languages or tasks
        share a batch, never an alignment call."""
        groups: dict[tuple[int, ...], list[int]] = {}
        for k, tokenizer in enumerate(tokenizers):
            groups.setdefault(tuple(tokenizer.sot_sequence), []).append(k)
        out: list[list[list[Word]]] = [[] for _ in clocks]
        for members in groups.values():
            words = self._align_prompt(
                encoded,
                [rows[k] for k in members],
                [clocks[k] for k in members],
                [timed[k] for k in members],
                tokenizers[members[0]],
            )
            for k, words_of_window in zip(members, words, strict=True):
                out[k] = words_of_window
        return out

    def _align_prompt(
        self,
        encoded: Any,
        rows: list[int],
        clocks: list[WindowClock],
        timed: list[list[tuple[Segment, list[int]]]],
        tokenizer: Any,
    ) -> list[list[list[Word]]]:
        """:meth:`_align` for rows with one prompt (``tokenizer``'s): word times from the
        alignment heads' cross-attention on the encoder output, as faster-whisper does.

        On CUDA one call aligns all rows. On CPU each row is its own call, the longest text
        first, shared among the replicas: a batched call pads every row to the longest
        text, and texts differ several-fold in length (a 2 s clip beside a 29 s window).
        Measured on 16 windows of short clips (2-79 tokens), 2 cores: 2.3 s as two batches
        of 8 side by side, 1.4 s row by row side by side (sorted batches of 2 or 4: 1.5-1.9 s);
        the alignments are identical.
        """
        if not clocks:
            return []
        whole = rows == list(range(encoded.shape[0])) and self.device == "cuda"
        host = None if whole else _to_numpy(encoded)
        texts = [[t for _, tokens in segs for t in tokens] for segs in timed]
        frames = [
            min(N_SAMPLES, round(clock.duration * SAMPLE_RATE)) // self._features.hop_length
            for clock in clocks
        ]
        sot = list(tokenizer.sot_sequence)

        def run(idx: list[int], model: Any = self._model) -> list[Any]:
            if host is None:
                feats = encoded
            else:
                feats = ctranslate2.StorageView.from_array(np.ascontiguousarray(host[[rows[i] for i in idx]]))
            return list(
                model.align(
                    feats,
                    sot,
                    [texts[i] for i in idx],
                    [max(1, frames[i]) for i in idx],
                    median_filter_width=self.decode.median_filter_width,
                )
            )

        n = len(clocks)
        if self.device == "cuda":
            results = run(list(range(n)))
        elif n == 1:
            results = run([0], self._model_for(1))
        else:
            order = sorted(range(n), key=lambda i: -len(texts[i]))
            each = (self._pool.map if self._pool else map)(lambda i: run([i])[0], order)
            results = [result for _, result in sorted(zip(order, each, strict=True), key=lambda p: p[0])]
        return [_words_by_segment(result, timed[k], clocks[k], tokenizer) for k, result in enumerate(results)]

    def _model_for(self, rows: int) -> Any:
        """The instance to encode or align ``rows`` windows in one call on: one window alone
        on the all-core instance (where there is one), more on the replicas."""
        return self._solo if rows == 1 and self._solo is not None else self._model

    def _pick_cpu_encoder(
        self, model_dir: Path, cpu_threads: int, wanted: str
    ) -> tuple[TorchEncoder | None, frozenset[int]]:
        """PyTorch's bfloat16 encoder (:mod:`twi_endpoint.torch_encoder`) where the CPU has
        matrix units for it, or where it has bfloat16 vector instructions and the encoder
        measures faster there on some input length; else ``None`` (CTranslate2's own
        encoder). With it, the input lengths (frames) CTranslate2's encoder measured faster
        on, which stay there. Only for a model whose weights are floating point. ``wanted``
        (``TWI_ASR_CPU_ENCODER``) may pin either: ``"ctranslate2"`` or ``"bfloat16"``
        instead of ``"auto"``."""
        pinned = wanted == "bfloat16"
        try:
            units = None if wanted == "ctranslate2" else bfloat16_units()
            if units is None and not pinned:
                return None, frozenset()
            weights = read_encoder_weights(model_dir / "model.bin")
            candidate = TorchEncoder(weights, cpu_threads) if weights is not None else None
            reason = "this model's encoder weights are not floating point (a quantised model)"
        except (ImportError, KeyError, ValueError, OSError) as exc:  # no torch; an unknown layout
            candidate, reason = None, f"the PyTorch encoder cannot load: {exc}"
        if candidate is None:
            if pinned:
                raise ModelLoadError(f"TWI_ASR_CPU_ENCODER=bfloat16, but {reason}")
            log.info("%s: CTranslate2's encoder", reason)
            return None, frozenset()
        if pinned or units == "amx":
            return candidate, frozenset()
        key = (str(model_dir.resolve()), cpu_threads)
        if key not in _ENCODER_CHOICE:  # the machine does not change: timed once, remembered
            _ENCODER_CHOICE[key] = remembered_choice(
                machine_key(model_dir / "model.bin", cpu_threads),
                lambda: faster_encoders(
                    {
                        "ctranslate2": self._encode_ct2,
                        "torch-bfloat16": lambda mels: _encode_torch(candidate, mels),
                    },
                    self._model.n_mels,
                    ENCODER_INPUT_FRAMES,
                ),
            )
        ct2_frames = frozenset(f for f, name in _ENCODER_CHOICE[key].items() if name != "torch-bfloat16")
        return (None, frozenset()) if ct2_frames == set(ENCODER_INPUT_FRAMES) else (candidate, ct2_frames)

    def _encode(self, mels: list[np.ndarray]) -> Any:
        """Encoder outputs for a batch of windows (one input length), as one StorageView for
        the decoder: from the PyTorch encoder where it was chosen for that length (window by
        window, each over every core), else from CTranslate2's (:meth:`_encode_ct2`)."""
        if self._torch_encoder is None or mels[0].shape[-1] in self._ct2_frames:
            return self._encode_ct2(mels)
        return _encode_torch(self._torch_encoder, mels)

    def _encode_ct2(self, mels: list[np.ndarray]) -> Any:
        """CTranslate2's encoder outputs for a batch of windows.

        On CPU the encoder runs window by window: its attention over 1500 frames makes a
        batch's activations outgrow the caches, measured ~20 % slower per window at batch 8
        than at batch 1, while the decoder gains ~2x from batching. On CUDA one call is best.
        """
        step = self.encoder_batch_size
        if step >= len(mels):
            return self._model_for(len(mels)).encode(
                ctranslate2.StorageView.from_array(np.stack(mels)), to_cpu=False
            )

        def encode(first: int, model: Any = self._model) -> np.ndarray:
            view = ctranslate2.StorageView.from_array(np.stack(mels[first : first + step]))
            return np.asarray(model.encode(view))  # a view; concatenate copies it once

        starts = list(range(0, len(mels), step))
        # the call releases the GIL: with replicas, windows are encoded side by side; the
        # ones left over when every replica has had its share go to the all-core instance
        lone = len(starts) % self.replicas if self._solo is not None else 0
        shared, alone = starts[: len(starts) - lone], starts[len(starts) - lone :]
        parts = list(self._pool.map(encode, shared)) if self._pool else [encode(i) for i in shared]
        parts += [encode(i, self._solo) for i in alone]
        return ctranslate2.StorageView.from_array(np.concatenate(parts))

    def _log_mel(self, chunk: np.ndarray) -> np.ndarray:
        """Log-mel features of one <=30 s window, padded to its encoder input
        (:func:`encoder_samples`: 10, 20 or Whisper's 30 s).

        A second of faint noise follows the speech before the digital-zero padding: Whisper
        drops a short utterance that ends right at the edge of the real audio (measured:
        the last 2 s sentence of a window vanished; with the quiet tail it is transcribed).
        """
        size = encoder_samples(chunk.size / SAMPLE_RATE)
        padded = np.zeros(size, dtype=np.float32)
        n = min(chunk.size, size)
        padded[:n] = chunk[:n]
        tail = _QUIET_TAIL[: size - n]
        padded[n : n + tail.size] = tail
        mel = self._features(padded, padding=0)
        return np.ascontiguousarray(mel[:, : size // self._features.hop_length], dtype=np.float32)

    def _detect_languages(self, encoded: Any, rows: list[int]) -> dict[int, str]:
        """Whisper's language of each of ``rows`` of the encoded batch (only those are run)."""
        if not rows:
            return {}
        if not self._model.is_multilingual:
            return dict.fromkeys(rows, "en")
        probs = self._model.detect_language(_rows(encoded, rows))
        return {i: str(ranked[0][0]).strip("<|>") for i, ranked in zip(rows, probs, strict=True)}

    def _tokenizer(self, language: str | None, task: str) -> Any:
        """faster-whisper's tokenizer for ``language``'s token; for ``NO_LANGUAGE_TOKEN`` its
        prompt (``sot_sequence``, used to decode and to align) is ``<|sot|><|task|>``: a
        checkpoint trained without a language token must not be given one."""
        if task not in ("transcribe", "translate"):
            raise InvalidRequestError(f"unsupported task {task!r}: expected 'transcribe' or 'translate'")
        if language == NO_LANGUAGE_TOKEN:
            tokenizer = Tokenizer(self._whisper.hf_tokenizer, self._model.is_multilingual, task, "en")
            tokenizer.language = None  # it insists on a valid code; the prompt then leaves it out
            return tokenizer
        if language is not None and self._model.is_multilingual and language not in _LANGUAGE_CODES:
            raise InvalidRequestError(
                f"unsupported language {language!r}: this Whisper model knows only its own language "
                f"codes ({', '.join(sorted(_LANGUAGE_CODES)[:8])}, ...); a fine-tuned Twi checkpoint "
                "is configured with the code it was trained with"
            )
        return Tokenizer(
            self._whisper.hf_tokenizer, self._model.is_multilingual, task=task, language=language
        )

    def _prompt(self, tokenizer: Any) -> list[int]:
        return list(tokenizer.sot_sequence)  # no <|notimestamps|>: Whisper times each sentence

    def _decode_batch(
        self,
        encoded: Any,
        tokenizers: list[Any],
        seconds: Sequence[float] | None = None,
        clocks: Sequence[WindowClock] | None = None,
    ) -> list[_Decoded]:
        """Each row decoded with its own tokenizer's prompt; broken rows again with beam 5, a
        loop that ran to the token budget first as text alone (greedy, no timestamps).
        ``seconds``: each row's audio, which bounds the tokens it may take (:func:`token_budget`;
        none given: Whisper's 224); ``clocks``: each row's window, where a loop is judged
        (:meth:`_needs_fallback`)."""
        prompts = [self._prompt(tokenizer) for tokenizer in tokenizers]

        def budget(rows: Sequence[int]) -> int:
            most = self.decode.max_new_tokens
            return most if seconds is None else token_budget(max(seconds[i] for i in rows), most)

        everyone = range(len(prompts))
        results = self._generate(encoded, prompts, self.decode.beam_size, tokenizers, budget(everyone))

        def still_broken(rows: Iterable[int]) -> list[int]:
            return [
                i
                for i in rows
                if self._needs_fallback(results[i], tokenizers[i], clocks[i] if clocks is not None else None)
            ]

        broken = still_broken(everyone)
        unclosed = [i for i in broken if results[i].ran_out] if self.decode.text_retry else []
        if unclosed:
            # A loop that ran to the token budget: the decoder never reached its end of text.
            # Decode it again as text alone (as faster-whisper's batched pipeline and whisperX
            # decode every window) and let the alignment time its words, as every window's are.
            retried = self._generate(
                _rows(encoded, unclosed),
                [[*prompts[i], tokenizers[i].no_timestamps] for i in unclosed],
                self.decode.beam_size,
                [tokenizers[i] for i in unclosed],
                budget(unclosed),
            )
            for i, r in zip(unclosed, retried, strict=True):
                results[i] = max(results[i], r, key=self._preference)
            broken = still_broken(broken)
        if broken and self.decode.fallback_beam_size > self.decode.beam_size:
            # Re-decode only the broken windows (their encoder outputs, sliced on the host).
            retried = self._generate(
                _rows(encoded, broken),
                [prompts[i] for i in broken],
                self.decode.fallback_beam_size,
                [tokenizers[i] for i in broken],
                budget(broken),
            )
            for i, r in zip(broken, retried, strict=True):
                results[i] = max(results[i], r, key=self._preference)
        return results

    def _preference(self, d: _Decoded) -> tuple[bool, float]:
        """Which of two decodings of one window to keep: one that is no repetition loop
        before one that is, then the more probable (faster-whisper's rule), or of two loops
        the lesser (:func:`twi_endpoint.timeline.without_loops` cuts it out; what is left is
        kept). Preferring the more probable alone kept a beam's "Oh, oh, oh, ..."
        (log-probability -0.11) over the greedy text of noisy speech (-1.68)."""
        looped = is_loop(d.text)
        return (not looped, -d.compression_ratio if looped else d.avg_logprob)

    def _generate(
        self, encoded: Any, prompts: list[list[int]], beam: int, tokenizers: list[Any], budget: int
    ) -> list[_Decoded]:
        """One decoded text per row, each from its own prompt, at most ``budget`` tokens.

        CTranslate2 lets a Whisper row generate ``min(max_length / 2, max_length - prompt)``
        tokens (``whisper.cc``), not ``max_length - prompt``: with ``max_length`` 223 (a
        prompt plus 220, as this engine once passed) windows stopped at 111 tokens, and a
        dense window of read speech lost the end of its last sentence mid-word ("how much
        there might be pr", bench ``speech`` seed 4; 7 of the 136 windows of seeds 0-4)."""
        kwargs: dict[str, Any] = {
            "beam_size": beam,
            "max_length": min(WHISPER_TEXT_CONTEXT, 2 * budget),
            "return_scores": True,
            "return_no_speech_prob": True,
            "suppress_blank": True,
            "suppress_tokens": [-1],
        }
        n = len(prompts)
        if self.replicas > 1 and n > 1:
            # One sub-batch per replica, interleaved so their lengths are alike; all at once.
            host = _to_numpy(encoded)
            shares = [list(range(r, n, self.replicas)) for r in range(self.replicas) if r < n]
            pending = [
                self._model.generate(
                    ctranslate2.StorageView.from_array(np.ascontiguousarray(host[idx])),
                    [prompts[i] for i in idx],
                    asynchronous=True,
                    **kwargs,
                )
                for idx in shares
            ]
            by_index = {
                i: f.result()
                for idx, futures in zip(shares, pending, strict=True)
                for i, f in zip(idx, futures, strict=True)
            }
            outputs = [by_index[i] for i in range(n)]
        else:
            # One window on one replica's single thread, not on the all-core instance: spread
            # over 2 threads its greedy decoding took 1.6-2.0x as long, beam 5 2.0-3.6x (5-29 s
            # windows, 2026-12-05; a decoder of whisper-small's size 1.05-1.6x), the same text.
            outputs = self._model.generate(encoded, prompts, **kwargs)
        decoded = []
        for out, tokenizer in zip(outputs, tokenizers, strict=True):
            tokens = [t for t in out.sequences_ids[0] if t != tokenizer.eot]
            length = len(out.sequences_ids[0])
            # ctranslate2 returns the length-normalised score; undo it like faster-whisper does.
            cum_logprob = out.scores[0] * length
            decoded.append(
                _Decoded(
                    text=tokenizer.decode([t for t in tokens if t < tokenizer.eot]),
                    tokens=tokens,
                    avg_logprob=cum_logprob / (length + 1),
                    no_speech_prob=float(out.no_speech_prob),
                    ran_out=length >= budget,
                )
            )
        return decoded

    def _needs_fallback(self, d: _Decoded, tokenizer: Any, clock: WindowClock | None = None) -> bool:
        """Whisper's rule (improbable text, or a loop), but where a window's pieces are known
        (``clock``) a loop only inside one of them, or one the decoder ran out of tokens on
        (:func:`twi_endpoint.timeline.loops_in_one_piece`)."""
        if self._is_silence(d):
            return False
        if d.avg_logprob < self.decode.log_prob_threshold:
            return True
        if not is_loop(d.text):
            return False
        return (
            clock is None
            or d.ran_out
            or loops_in_one_piece(d.tokens, clock, tokenizer.timestamp_begin, tokenizer.eot, tokenizer.decode)
        )

    def _is_silence(self, d: _Decoded) -> bool:
        """Whisper's rule: 'no speech' is believed only when the text is also improbable."""
        return (
            d.no_speech_prob > self.decode.no_speech_threshold
            and d.avg_logprob < self.decode.log_prob_threshold
        )


def _words_by_segment(
    result: Any, timed: list[tuple[Segment, list[int]]], clock: WindowClock, tokenizer: Any
) -> list[list[Word]]:
    """One window's alignment -> the words of each of its segments, in recording time.

    ``result.alignments`` pairs text-token positions with encoder frames (50 per second);
    a word starts at the frame where its first token begins (Whisper's own method).
    """
    tokens = [t for _, seg_tokens in timed for t in seg_tokens]
    words, word_tokens = tokenizer.split_to_word_tokens([*tokens, tokenizer.eot])
    pairs = np.asarray(result.alignments, dtype=np.int64).reshape(-1, 2)
    probs = np.asarray(result.text_token_probs, dtype=np.float64)
    out: list[list[Word]] = [[] for _ in timed]
    if len(word_tokens) <= 1 or pairs.size == 0:
        return out
    jumps = np.diff(pairs[:, 0], prepend=-1).astype(bool)
    jump_times = pairs[jumps, 1] / ENCODER_FRAMES_PER_SECOND
    bounds = np.concatenate([[0], np.cumsum([len(t) for t in word_tokens[:-1]])])
    seg_ends = np.cumsum([len(seg_tokens) for _, seg_tokens in timed])
    for k in range(len(bounds) - 1):
        text = words[k]
        lo, hi = int(bounds[k]), int(bounds[k + 1])
        if not text.strip() or hi >= jump_times.size + 1:
            continue
        start, end = clock.span(
            float(jump_times[min(lo, jump_times.size - 1)]), float(jump_times[min(hi, jump_times.size - 1)])
        )
        seg = min(int(np.searchsorted(seg_ends, lo, side="right")), len(timed) - 1)
        p = float(np.mean(probs[lo:hi])) if hi > lo and hi <= probs.size else 0.0
        out[seg].append(Word(round(start, 3), round(max(end, start), 3), text, round(p, 3)))
    return out


def _transcription(recording: _Recording) -> Transcription:
    """What was decoded of one recording, as its :class:`Transcription`."""
    activity = recording.activity
    segments, covered = finished(recording.segments, activity)  # coverage before words go
    if not recording.options.words:
        segments = [replace(seg, words=()) for seg in segments]
    return Transcription(
        text=" ".join(seg.text for seg in segments),
        language=recording.state.language,
        segments=segments,
        chunks=recording.decoded_windows,
        language_source=recording.state.language_source,
        coverage=covered,
    )


def _rows(view: Any, rows: list[int]) -> Any:
    """Rows ``rows`` of a batch's encoder output, sliced on the host (``view`` itself when
    they are all of its rows)."""
    if rows == list(range(view.shape[0])):
        return view
    return ctranslate2.StorageView.from_array(np.ascontiguousarray(_to_numpy(view)[rows]))


def _to_numpy(view: Any) -> np.ndarray:
    """A CTranslate2 StorageView (CPU or CUDA) as a host array, read-only use.

    On the host it is a view of the same memory, not a copy (the array keeps ``view``
    alive): every caller only slices rows out of it, and a copy of a 16-window encoder
    output (49 MB) took 82 ms, made twice per batch (decoding and word alignment)."""
    if view.device != "cpu":
        view = view.to_device(ctranslate2.Device.cpu)
    return np.asarray(view)


def _check_audio(audio: np.ndarray) -> np.ndarray:
    if not isinstance(audio, np.ndarray):
        raise TypeError(f"audio must be a numpy array, got {type(audio).__name__}")
    if audio.ndim != 1:
        raise ValueError(f"audio must be mono (1-D) at {SAMPLE_RATE} Hz, got shape {audio.shape}")
    if not np.all(np.isfinite(audio)):
        raise ValueError("audio contains NaN or infinite samples")
    return audio.astype(np.float32, copy=False)


def _resolve_device(device: str | None) -> str:
    has_cuda = ctranslate2.get_cuda_device_count() > 0
    if device is None or device == "auto":
        return "cuda" if has_cuda else "cpu"
    if device not in ("cpu", "cuda"):
        raise ModelLoadError(f"unsupported device {device!r}: expected 'cpu', 'cuda' or None (automatic)")
    if device == "cuda" and not has_cuda:
        raise ModelLoadError("device 'cuda' requested but CTranslate2 sees no CUDA device")
    return device


def load_ctranslate2_engine(
    model_dir: str | Path,
    device: str | None = None,
    batch_size: int | None = None,
    cpu_encoder: str = "auto",
    beam_size: int = DEFAULT_BEAM_SIZE,
) -> CTranslate2Engine:
    """Load a CTranslate2 Whisper directory once; ``None`` picks device and batch size;
    ``cpu_encoder`` (:data:`twi_endpoint.settings.CPU_ENCODERS`) which encoder runs on CPU;
    ``beam_size`` the hypotheses each window's first decoding keeps (1: greedy).

    The directory must hold ``model.bin`` (CTranslate2) and ``tokenizer.json``.
    """
    path = Path(model_dir)
    missing = [f for f in ("model.bin", "tokenizer.json") if not (path / f).is_file()]
    if missing:
        raise ModelLoadError(
            f"{path} is not a CTranslate2 Whisper model directory: missing {', '.join(missing)}"
        )
    resolved = _resolve_device(device)
    if batch_size is not None and batch_size < 1:
        raise ModelLoadError(f"batch_size must be >= 1, got {batch_size}")
    engine = CTranslate2Engine(
        path,
        device=resolved,
        compute_type=CUDA_COMPUTE_TYPE if resolved == "cuda" else CPU_COMPUTE_TYPE,
        batch_size=batch_size or (CUDA_BATCH_SIZE if resolved == "cuda" else CPU_BATCH_SIZE),
        cpu_threads=usable_cpu_count(),
        cpu_encoder=cpu_encoder,
        decode=Ct2DecodeSettings(beam_size=checked_beam_size(beam_size)),
    )
    log.info(
        "loaded %s on %s (%s, batch %d, beam %d)",
        engine.model_name,
        engine.device,
        engine.dtype,
        engine.batch_size,
        engine.beam_size,
    )
    return engine
