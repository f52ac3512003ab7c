"""The transformers engine: the default on SageMaker (the HF DLC ships torch + transformers).

Long audio is cut at pauses into <= 30 s windows (:mod:`twi_endpoint.windows`) that are
decoded ``batch_size`` at a time with timestamps; each window's segments are shifted by its
start. We do not use transformers' chunked ASR pipeline: it cuts blindly and merges
overlapping windows by token matching, which drops words at the joins (29 % WER without
timestamps, 4-10 % with them, measured on 2.3 min of LibriVox with whisper-base under
transformers 4.51.3).

Whisper sometimes jumps over a sentence of a dense 30 s window. When Silero VAD is available
(faster-whisper's bundled model), a window whose text is too short for the speech in it is
decoded again as two halves cut at the quietest moment near its middle, as the CTranslate2
engine does (see :func:`twi_endpoint.segmentation.looks_skipped`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import numpy as np

from twi_endpoint.gate import peak_frame_dbfs
from twi_endpoint.segmentation import looks_skipped, speech_probabilities, speech_seconds, vad_parts
from twi_endpoint.types import SAMPLE_RATE, DecodeOptions, Segment, Transcription
from twi_endpoint.windows import split_in_two, split_windows

logger = logging.getLogger(__name__)

ENGINE_NAME: Final = "transformers"
TIME_PRECISION: Final = 0.02  # seconds per Whisper timestamp token
AUTO_BATCH_CUDA: Final = 16  # 30 s windows per forward pass on a GPU (fp16 large-v3 fits in 16 GB)
AUTO_BATCH_CPU: Final = 4  # on CPU batching mostly saves Python overhead; more only costs memory
SILENT_WINDOW_DBFS: Final = -50.0  # a window whose loudest 30 ms frame is quieter holds no speech


class _DropKnownNoise(logging.Filter):
    """transformers 4.51 warns on every Whisper ``generate`` that its own suppress-token
    processors were "passed" twice; harmless, and it would fill the endpoint's log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("A custom logits processor of type")


class TransformersEngine:
    """Whisper through ``transformers``: FP16 on CUDA, FP32 on CPU, SDPA attention."""

    name = ENGINE_NAME

    def __init__(
        self, model_dir: str | Path, device: str | None = None, batch_size: int | None = None
    ) -> None:
        import torch
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        logging.getLogger("transformers.generation.utils").addFilter(_DropKnownNoise())
        path = Path(model_dir)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self._torch_dtype = torch.float16 if self.device.startswith("cuda") else torch.float32
        # Explicit dtype: checkpoints often store fp16 weights under a config that says fp32.
        model = WhisperForConditionalGeneration.from_pretrained(
            path, torch_dtype=self._torch_dtype, attn_implementation="sdpa", low_cpu_mem_usage=True
        )
        self._model = model.to(self.device).eval()
        self._processor = WhisperProcessor.from_pretrained(path)
        self.batch_size = batch_size or (
            AUTO_BATCH_CUDA if self.device.startswith("cuda") else AUTO_BATCH_CPU
        )
        self.model_name = path.name
        self.dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
        gen = model.generation_config
        self.multilingual = bool(getattr(gen, "is_multilingual", True))
        self._id_to_language = {
            i: tok.strip("<|>") for tok, i in (getattr(gen, "lang_to_id", None) or {}).items()
        }
        self._timestamp_begin = int(gen.no_timestamps_token_id) + 1
        self._eos = int(gen.eos_token_id if isinstance(gen.eos_token_id, int) else gen.eos_token_id[0])

    def transcribe(self, audio: np.ndarray, options: DecodeOptions) -> Transcription:
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        # Silent stretches of a long recording are not decoded: Whisper invents text there.
        windows = [
            (s, e) for s, e in split_windows(audio) if peak_frame_dbfs(audio[s:e]) >= SILENT_WINDOW_DBFS
        ]
        languages: list[str] = []
        per_window = self._decode(audio, windows, options, languages)
        per_window = self._recover_skipped(audio, windows, per_window, options, languages)
        segments = [segment for window_segments in per_window for segment in window_segments]
        language: str | None
        if options.language:
            language, source = options.language, "config"
        elif languages:
            language, source = max(set(languages), key=languages.count), "detected"
        else:
            language, source = ("en" if not self.multilingual else None), "detected"
        return Transcription(
            text=" ".join(s.text for s in segments),
            language=language,
            segments=segments,
            chunks=len(windows),
            language_source=source,
        )

    def _decode(
        self,
        audio: np.ndarray,
        windows: list[tuple[int, int]],
        options: DecodeOptions,
        languages: list[str],
    ) -> list[list[Segment]]:
        """Segments of each window, decoded ``batch_size`` windows at a time with timestamps."""
        import torch

        out: list[list[Segment]] = []
        for first in range(0, len(windows), self.batch_size):
            batch = windows[first : first + self.batch_size]
            features = self._processor.feature_extractor(
                [audio[s:e] for s, e in batch], sampling_rate=SAMPLE_RATE, return_tensors="pt"
            ).input_features.to(self.device, self._torch_dtype)
            kwargs: dict[str, Any] = {"return_timestamps": True}
            if self.multilingual:  # English-only checkpoints reject language/task
                kwargs["task"] = options.task
                langs = [options.language] * len(batch) if options.language else self._detect(features)
                kwargs["language"] = langs
                languages += langs
            with torch.inference_mode():
                sequences = self._model.generate(features, **kwargs)
            for (start, end), tokens in zip(batch, sequences.tolist(), strict=True):
                out.append(self._segments(tokens, start / SAMPLE_RATE, end / SAMPLE_RATE))
        return out

    def _recover_skipped(
        self,
        audio: np.ndarray,
        windows: list[tuple[int, int]],
        per_window: list[list[Segment]],
        options: DecodeOptions,
        languages: list[str],
    ) -> list[list[Segment]]:
        """Decode again, as two halves, each window whose text is too short for its speech."""
        probs = _speech_probabilities(audio) if windows else None
        if probs is None:
            return per_window
        chars = [sum(len(s.text) for s in segs) for segs in per_window]
        speech = [speech_seconds(probs, s, e) for s, e in windows]
        skipped = looks_skipped(chars, speech)
        if not skipped:
            return per_window
        logger.info("re-decoding %d window(s) whose text looks incomplete as halves", len(skipped))
        halves = [half for i in skipped for half in split_in_two(audio, *windows[i])]
        redone = self._decode(audio, halves, options, languages)
        out = list(per_window)
        for k, i in enumerate(skipped):
            again = redone[2 * k] + redone[2 * k + 1]
            if sum(len(s.text) for s in again) > chars[i]:
                out[i] = again
        return out

    def _detect(self, features: Any) -> list[str]:
        """Whisper's own language identification, one per window (recorded in the result).

        It runs the encoder once more; sharing the encoder output with ``generate`` breaks
        batched decoding in transformers 4.51, and a deployment that configures the
        language (a Twi fine-tune must) never pays this.
        """
        import torch

        with torch.inference_mode():
            ids = self._model.detect_language(features)
        return [self._id_to_language.get(int(i), "en") for i in ids.view(-1).tolist()]

    def _segments(self, tokens: list[int], offset: float, window_end: float) -> list[Segment]:
        decode = self._processor.tokenizer.decode
        return segments_from_tokens(
            tokens,
            lambda ids: str(decode(ids, skip_special_tokens=True)),
            self._timestamp_begin,
            self._eos,
            offset,
            window_end,
        )


def segments_from_tokens(
    tokens: list[int],
    decode: Callable[[list[int]], str],
    timestamp_begin: int,
    eos: int,
    offset: float,
    window_end: float,
) -> list[Segment]:
    """Timestamp tokens ``<|t0|> text <|t1|>`` of one window -> segments shifted by ``offset``.

    Text without a closing timestamp runs to the window's end. When generate restarts the
    clock (``<|22.96|><|0.00|>`` inside one window), later times count from the last one.
    """
    segments: list[Segment] = []
    start: float | None = None
    text_tokens: list[int] = []

    def close(end: float) -> None:
        text = decode(text_tokens).strip()
        if text:
            s = offset + (start if start is not None else 0.0)  # None: the window's start
            segments.append(Segment(round(s, 3), round(min(max(offset + end, s), window_end), 3), text))

    base = 0.0
    last = 0.0
    for token in tokens:
        if token >= timestamp_begin:
            step = (token - timestamp_begin) * TIME_PRECISION
            time = base + step
            if time < last and not text_tokens:  # a reset: times now count from the last one
                base, time = last, last + step
            last = max(last, time)
            if text_tokens:  # closes a segment; text that follows without its own
                close(time)  # start timestamp continues from here
                text_tokens = []
            start = time
        elif token < eos:
            text_tokens.append(token)
    if text_tokens:
        close(window_end - offset)
    return segments


def _speech_probabilities(audio: np.ndarray) -> np.ndarray | None:
    """Silero VAD probabilities, or None where faster-whisper (which bundles it) is missing."""
    import importlib.util

    if importlib.util.find_spec("faster_whisper") is None:
        return None
    return speech_probabilities(audio, parts=vad_parts())


def load_transformers_engine(
    model_dir: str | Path, device: str | None = None, batch_size: int | None = None
) -> TransformersEngine:
    """Entry point shaped like the CTranslate2 engine's ``load_ctranslate2_engine``."""
    return TransformersEngine(model_dir, device=device, batch_size=batch_size)
