"""Whisper on CTranslate2 (through faster-whisper's model wrapper): batched, greedy, VAD-cut,
with timestamps and word times, checked against the VAD so that no sentence is lost silently.

* Silero VAD runs once per request (:class:`twi_endpoint.segmentation.VoiceActivity`); its
  speech is packed into <=30 s windows cut only in pauses, so no word is split between
  windows and silence is never decoded.
* The windows are independent, so they are encoded and decoded in batches (one GEMM instead
  of many GEMVs per decoder step), *with* Whisper's timestamp tokens: each sentence comes
  back with its own times. The words are then aligned on the encoder output already
  computed (CTranslate2's cross-attention alignment, as faster-whisper does), and
  :mod:`twi_endpoint.timeline` puts sentences and words on the recording's timeline and
  onto the speech the VAD found, cutting segments at pauses of over 1 s and to at most 10 s.
* Whisper sometimes jumps over a sentence (after a long pause, in slow hesitant speech).
  Instead of guessing from text length, every speech region the VAD found is checked
  against the words: speech of a second or more that no segment holds is decoded again on
  its own, batched; what is still uncovered after that is reported in the result, never
  dropped in silence.
* A window whose result looks broken (repetition loop, very low log-probability) is decoded
  again with beam 5; a window the model calls "no speech" with low confidence in its text
  produces nothing.

The model is loaded once (:func:`load_ctranslate2_engine`) and reused by every request:
int8 on CPU (two replicas sharing the usable cores, working on different windows at once),
float16 on CUDA.
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.tokenizer import _LANGUAGE_CODES, Tokenizer
from twi_contract import NO_LANGUAGE_TOKEN

from twi_endpoint.errors import InvalidRequestError, ModelLoadError
from twi_endpoint.segmentation import (
    SegmentationOptions,
    VoiceActivity,
    Window,
    detect_speech,
    plan_windows,
    usable_cpu_count,
    vad_parts,
)
from twi_endpoint.timeline import (
    RECOVERY_ROUNDS,
    WindowClock,
    coverage,
    in_order,
    place_words,
    recover_uncovered,
    uncovered_speech,
    window_segments,
)
from twi_endpoint.types import N_SAMPLES, SAMPLE_RATE, DecodeOptions, Segment, Transcription, Word

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


TOKENS_PER_SECOND = 50  # encoder frames per second: the alignment's time unit
WINDOW_TAIL_S = 1.0  # quiet tail after each window's audio (see CTranslate2Engine._log_mel)
_QUIET_TAIL = (np.random.default_rng(0).standard_normal(int(WINDOW_TAIL_S * SAMPLE_RATE)) * 3e-4).astype(
    np.float32
)  # about -70 dBFS, like the room noise of a quiet recording


@dataclass(frozen=True)
class Ct2DecodeSettings:
    """Decoding knobs. The defaults are what the benchmark measured as fastest at full accuracy."""

    # Greedy: with timestamp tokens and the coverage check, beam 2 gave no better text over
    # three mixes of clips (seeds 0-2: the same WER on two, worse on one) for ~10 % more time.
    beam_size: int = 1
    fallback_beam_size: int = 5  # re-decode of windows that look broken
    no_speech_threshold: float = 0.6  # Whisper's own silence rule, with log_prob_threshold
    log_prob_threshold: float = -1.0
    compression_ratio_threshold: float = 2.4  # gzip ratio above this = repetition loop
    max_new_tokens: int = 220  # a 30 s window holds at most ~150 words; caps a runaway loop
    recovery_rounds: int = RECOVERY_ROUNDS  # uncovered speech decoded again on its own
    median_filter_width: int = 7  # smoothing of the alignment heads' attention (Whisper's value)


class _RequestState:
    """What one request settles on its first batch: language and prompt token (given or
    detected), tokenizer."""

    def __init__(self, options: DecodeOptions) -> None:
        self.language: str | None = options.language
        self.token: str | None = options.language_token
        self.language_source = "config" if options.language else "detected"
        self.task = options.task
        self.tokenizer: Any = None


@dataclass(frozen=True)
class _Decoded:
    text: str
    tokens: list[int]  # text and timestamp tokens, without the end of text
    avg_logprob: float
    no_speech_prob: float

    @property
    def compression_ratio(self) -> float:
        data = self.text.encode("utf-8")
        return len(data) / len(zlib.compress(data)) if data else 0.0


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

    # --- public ---------------------------------------------------------------------
    def transcribe(
        self, audio: np.ndarray, options: DecodeOptions, activity: VoiceActivity | None = None
    ) -> Transcription:
        """Transcribe mono float32 audio at 16 kHz of any length (see module docstring)."""
        audio = _check_audio(audio)
        with self._lock:
            if activity is None:
                activity = detect_speech(audio, self.segmentation, parts=self.vad_parts)
            state = _RequestState(options)
            windows = plan_windows(activity.probs, audio.size, self.segmentation)
            segments = self._transcribe_windows(audio, windows, activity, state)
            segments, again = recover_uncovered(
                segments,
                activity,
                lambda ws: self._transcribe_windows(audio, ws, activity, state),
                self.decode.recovery_rounds,
            )
            decoded_windows = len(windows) + again
        segments = in_order(segments)
        if not options.words:
            segments = [replace(seg, words=()) for seg in segments]
        return Transcription(
            text=" ".join(seg.text for seg in segments),
            language=state.language,
            segments=segments,
            chunks=decoded_windows,
            language_source=state.language_source,
            coverage=coverage(segments, activity, uncovered_speech(segments, activity)),
        )

    # --- internals ---------------------------------------------------------------------
    def _transcribe_windows(
        self,
        audio: np.ndarray,
        windows: list[Window],
        activity: VoiceActivity,
        state: _RequestState,
    ) -> list[Segment]:
        """Encode, decode and time ``windows`` in batches of ``batch_size``."""
        segments: list[Segment] = []
        for first in range(0, len(windows), self.batch_size):
            batch = windows[first : first + self.batch_size]
            encoded = self._encode([self._log_mel(w.audio(audio)) for w in batch])
            if state.tokenizer is None:
                if state.language is None:
                    state.language = state.token = self._detect_language(encoded, batch)
                state.tokenizer = self._tokenizer(state.token, state.task)
            decoded = self._decode_batch(encoded, state.tokenizer)
            segments += self._timed(encoded, batch, decoded, activity, state)
        return segments

    def _timed(
        self,
        encoded: Any,
        batch: list[Window],
        decoded: list[_Decoded],
        activity: VoiceActivity,
        state: _RequestState,
    ) -> list[Segment]:
        """Each window's timestamped segments on the recording's timeline, placed by their
        word times (every window: the words put each sentence on its speech and show what
        the decoder skipped)."""
        tokenizer = state.tokenizer
        per_window = [
            []
            if self._is_silence(d)
            else [
                (seg, timed.tokens)
                for seg, timed in window_segments(
                    d.tokens, window, tokenizer.timestamp_begin, tokenizer.eot, tokenizer.decode, activity
                )
            ]
            for window, d in zip(batch, decoded, strict=True)
        ]
        rows = [i for i, segs in enumerate(per_window) if segs]
        words = self._align(encoded, rows, [batch[i] for i in rows], [per_window[i] for i in rows], tokenizer)
        return [
            part
            for i, seg_words in zip(rows, words, strict=True)
            for (seg, _), placed in zip(per_window[i], seg_words, strict=True)
            for part in place_words(seg, placed, activity)
        ]

    def _align(
        self,
        encoded: Any,
        rows: list[int],
        windows: list[Window],
        timed: list[list[tuple[Segment, list[int]]]],
        tokenizer: Any,
    ) -> list[list[list[Word]]]:
        """Word times of each segment of ``windows`` (rows ``rows`` of the encoded batch),
        from the alignment heads' cross-attention on the encoder output, as faster-whisper does.
        On CPU the windows are shared among the replicas."""
        if not windows:
            return []
        whole = rows == list(range(encoded.shape[0])) and self._pool is None
        host = None if whole else _to_numpy(encoded)
        texts = [[t for _, tokens in segs for t in tokens] for segs in timed]
        frames = [
            min(N_SAMPLES, round(w.duration_s * SAMPLE_RATE)) // self._features.hop_length for w in windows
        ]
        sot = list(tokenizer.sot_sequence)

        def run(idx: list[int]) -> list[Any]:
            if host is None:
                feats = encoded
            else:
                feats = ctranslate2.StorageView.from_array(np.ascontiguousarray(host[[rows[i] for i in idx]]))
            return list(
                self._model.align(
                    feats,
                    sot,
                    [texts[i] for i in idx],
                    [max(1, frames[i]) for i in idx],
                    median_filter_width=self.decode.median_filter_width,
                )
            )

        n = len(windows)
        shares = [list(range(r, n, self.replicas)) for r in range(self.replicas) if r < n]
        if self._pool and len(shares) > 1:
            results_by_share = list(self._pool.map(run, shares))
        else:
            shares = [list(range(n))]
            results_by_share = [run(shares[0])]
        results: list[Any] = [None] * n
        for idx, res in zip(shares, results_by_share, strict=True):
            for i, r in zip(idx, res, strict=True):
                results[i] = r
        return [
            _words_by_segment(result, timed[k], WindowClock(windows[k]), tokenizer)
            for k, result in enumerate(results)
        ]

    def _encode(self, mels: list[np.ndarray]) -> Any:
        """Encoder outputs for a batch of windows, as one StorageView for the decoder.

        On CPU the encoder runs window by window: its attention over 1500 frames makes a
        batch's activations outgrow the caches, measured ~20 % slower per window at batch 8
        than at batch 1, while the decoder gains ~2x from batching. On CUDA one call is best.
        """
        step = self.encoder_batch_size
        if step >= len(mels):
            return self._model.encode(ctranslate2.StorageView.from_array(np.stack(mels)), to_cpu=False)

        def encode(first: int) -> np.ndarray:
            view = ctranslate2.StorageView.from_array(np.stack(mels[first : first + step]))
            return np.array(self._model.encode(view))

        starts = range(0, len(mels), step)
        # the call releases the GIL: with replicas, windows are encoded side by side
        parts = list(self._pool.map(encode, starts)) if self._pool else [encode(i) for i in starts]
        return ctranslate2.StorageView.from_array(np.concatenate(parts))

    def _log_mel(self, chunk: np.ndarray) -> np.ndarray:
        """Log-mel features of one <=30 s window, padded to Whisper's 3000 frames.

        A second of faint noise follows the speech before the digital-zero padding: Whisper
        drops a short utterance that ends right at the edge of the real audio (measured:
        the last 2 s sentence of a window vanished; with the quiet tail it is transcribed).
        """
        padded = np.zeros(N_SAMPLES, dtype=np.float32)
        n = min(chunk.size, N_SAMPLES)
        padded[:n] = chunk[:n]
        tail = _QUIET_TAIL[: N_SAMPLES - n]
        padded[n : n + tail.size] = tail
        mel = self._features(padded, padding=0)
        return np.ascontiguousarray(mel[:, : N_SAMPLES // self._features.hop_length], dtype=np.float32)

    def _detect_language(self, encoded: Any, batch: Sequence[Window]) -> str:
        """Language of the longest window of the first batch (most evidence for the guess)."""
        if not self._model.is_multilingual:
            return "en"
        probs = self._model.detect_language(encoded)
        longest = max(range(len(batch)), key=lambda i: batch[i].duration_s)
        token, _prob = probs[longest][0]
        return str(token).strip("<|>")

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

    def _decode_batch(self, encoded: Any, tokenizer: Any) -> list[_Decoded]:
        prompt = self._prompt(tokenizer)
        n = encoded.shape[0]
        results = self._generate(encoded, [prompt] * n, self.decode.beam_size, tokenizer)
        broken = [i for i, r in enumerate(results) if self._needs_fallback(r)]
        if broken and self.decode.fallback_beam_size > self.decode.beam_size:
            # Re-decode only the broken windows (their encoder outputs, sliced on the host).
            sub = ctranslate2.StorageView.from_array(_to_numpy(encoded)[broken])
            retried = self._generate(sub, [prompt] * len(broken), self.decode.fallback_beam_size, tokenizer)
            for i, r in zip(broken, retried, strict=True):
                if r.avg_logprob > results[i].avg_logprob or results[i].compression_ratio > (
                    self.decode.compression_ratio_threshold
                ):
                    results[i] = r
        return results

    def _generate(
        self,
        encoded: Any,
        prompts: list[list[int]],
        beam: int,
        tokenizer: Any,
        max_new_tokens: int | None = None,
    ) -> list[_Decoded]:
        kwargs: dict[str, Any] = {
            "beam_size": beam,
            "max_length": len(prompts[0]) + (max_new_tokens or self.decode.max_new_tokens),
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
            outputs = self._model.generate(encoded, prompts, **kwargs)
        decoded = []
        for out in outputs:
            tokens = [t for t in out.sequences_ids[0] if t != tokenizer.eot]
            n = len(out.sequences_ids[0])
            # ctranslate2 returns the length-normalised score; undo it like faster-whisper does.
            cum_logprob = out.scores[0] * n
            decoded.append(
                _Decoded(
                    text=tokenizer.decode([t for t in tokens if t < tokenizer.eot]),
                    tokens=tokens,
                    avg_logprob=cum_logprob / (n + 1),
                    no_speech_prob=float(out.no_speech_prob),
                )
            )
        return decoded

    def _needs_fallback(self, d: _Decoded) -> bool:
        if self._is_silence(d):
            return False
        return (
            d.compression_ratio > self.decode.compression_ratio_threshold
            or d.avg_logprob < self.decode.log_prob_threshold
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
    jump_times = pairs[jumps, 1] / TOKENS_PER_SECOND
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


def _to_numpy(view: Any) -> np.ndarray:
    """A CTranslate2 StorageView (CPU or CUDA) as a host array."""
    if view.device != "cpu":
        view = view.to_device(ctranslate2.Device.cpu)
    return np.array(view)


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
    model_dir: str | Path, device: str | None = None, batch_size: int | None = None
) -> CTranslate2Engine:
    """Load a CTranslate2 Whisper directory once; ``None`` picks device and batch size.

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
    )
    log.info(
        "loaded %s on %s (%s, batch %d)", engine.model_name, engine.device, engine.dtype, engine.batch_size
    )
    return engine
