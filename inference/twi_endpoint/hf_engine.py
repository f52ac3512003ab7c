"""The transformers engine: for a checkpoint not converted to CTranslate2 (the HF DLC ships
torch + transformers; ``make package`` converts, and the default engine runs that).

It works like the CTranslate2 engine, on the same timeline (:mod:`twi_endpoint.timeline`):
the request's VAD (run once) packs the speech into <= 30 s windows cut at pauses, decoded
``batch_size`` at a time with Whisper's timestamp tokens; speech of a second or more that
no segment holds is decoded again on its own, and what is still uncovered is reported
(:mod:`twi_endpoint.coverage`).
Every window's words are aligned (Whisper's cross-attention alignment, each window over
its own frames: :meth:`TransformersEngine._align`), whether or not the request asks for
them (``words=true`` only returns them): the timeline places segments by their words, cuts
them at pauses and to 10 s, and checks coverage on them, as for the CTranslate2 engine.
Timed by its timestamp tokens alone, a segment spanned the pauses its window had joined
(bench ``short_pauses`` seed 0: segments of 16 and 23 s over pauses of 7-10 s, 72 % of
clip starts within 0.5 s; over the 27 inputs of seeds 0-2, 12 runs under 95 % and a 38 s
segment, now 1 run at 93 % and at most 9.4 s, 642 -> 624 errors, for 1.05-1.68x the time,
343 against 267 s). The alignment reads the encoder output ``generate`` computed
(:meth:`TransformersEngine._encoder_outputs`) and runs the decoder once more over the text.
Without a VAD (no faster-whisper) each segment is kept off the pieces of its window where
it holds no speech of its own (:meth:`WindowClock.segments_spans`).

We do not use transformers' chunked ASR pipeline: it cuts blindly and merges
overlapping windows by token matching, which drops words at the joins (29 % WER without
timestamps, 4-10 % with them, measured on 2.3 min of LibriVox with whisper-base under
transformers 4.51.3).

Without faster-whisper (which bundles Silero VAD) the windows are cut at the quietest
moments instead (:mod:`twi_endpoint.windows`) and no coverage is checked.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

import numpy as np
from twi_contract import NO_LANGUAGE_TOKEN

from twi_endpoint.coverage import RECOVERY_ROUNDS, finished, recover_uncovered
from twi_endpoint.errors import TwiAsrError
from twi_endpoint.gate import peak_frame_dbfs, voice_activity
from twi_endpoint.segmentation import VoiceActivity, Window, plan_windows
from twi_endpoint.sentences import in_order
from twi_endpoint.settings import DEFAULT_BEAM_SIZE, checked_beam_size
from twi_endpoint.timeline import WindowClock, place_window, window_segments
from twi_endpoint.types import (
    ENCODER_FRAMES,
    ENCODER_FRAMES_PER_SECOND,
    QUIETEST_SPEECH_DBFS,
    SAMPLE_RATE,
    DecodeOptions,
    RecordingRequest,
    Segment,
    Transcription,
    Word,
    token_budget,
)
from twi_endpoint.windows import split_windows

logger = logging.getLogger(__name__)

ENGINE_NAME: Final = "transformers"
AUTO_BATCH_CUDA: Final = 16  # 30 s windows per forward pass on a GPU (fp16 large-v3 fits in 16 GB)
AUTO_BATCH_CPU: Final = 4  # on CPU batching mostly saves Python overhead; more only costs memory


class _DropKnownNoise(logging.Filter):
    """transformers 4.51 warns on every Whisper ``generate`` that its own suppress-token
    processors were "passed" twice; harmless, and it would fill the endpoint's log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("A custom logits processor of type")


class TransformersEngine:
    """Whisper through ``transformers``: FP16 on CUDA, FP32 on CPU, SDPA attention."""

    name = ENGINE_NAME

    def __init__(
        self,
        model_dir: str | Path,
        device: str | None = None,
        batch_size: int | None = None,
        beam_size: int = DEFAULT_BEAM_SIZE,
    ) -> None:
        checked_beam_size(beam_size)
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
        self.beam_size = beam_size  # 1: greedy, generate's default
        self.model_name = path.name
        self.dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
        gen = model.generation_config
        self.multilingual = bool(getattr(gen, "is_multilingual", True))
        self._id_to_language = {
            i: tok.strip("<|>") for tok, i in (getattr(gen, "lang_to_id", None) or {}).items()
        }
        self._no_language = _without_language(gen)
        self._no_timestamps = int(gen.no_timestamps_token_id)
        self._timestamp_begin = self._no_timestamps + 1
        self._eos = int(gen.eos_token_id if isinstance(gen.eos_token_id, int) else gen.eos_token_id[0])
        self._sot = int(gen.decoder_start_token_id)
        # the heads whose cross-attention follows the speech; a checkpoint that names none
        # gets openai-whisper's default, every head of the decoder's second half
        layers, heads = model.config.decoder_layers, model.config.decoder_attention_heads
        self._alignment_heads = [tuple(pair) for pair in getattr(gen, "alignment_heads", None) or ()] or [
            (layer, head) for layer in range(layers // 2, layers) for head in range(heads)
        ]
        self._median_filter_width = int(getattr(model.config, "median_filter_width", 7))

    def transcribe(
        self, audio: np.ndarray, options: DecodeOptions, activity: VoiceActivity | None = None
    ) -> Transcription:
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        if activity is None:
            activity = voice_activity(audio)
        languages: list[str] = []
        if activity is None:  # no VAD: energy windows, silent ones skipped
            windows = [
                Window(((s, e),))
                for s, e in split_windows(audio)
                if peak_frame_dbfs(audio[s:e]) >= QUIETEST_SPEECH_DBFS
            ]
            segments = in_order(self._decode(audio, windows, options, languages, None))
            decoded = len(windows)
            cov = None
        else:
            windows = plan_windows(activity.probs, audio.size, activity.options)
            unwritten: list[tuple[float, float]] = []
            segments = self._decode(audio, windows, options, languages, activity, unwritten)
            segments, again = recover_uncovered(
                segments,
                activity,
                lambda ws: self._decode(audio, ws, options, languages, activity),
                RECOVERY_ROUNDS,
                windows,
                unwritten,
            )
            decoded = len(windows) + again
            segments, cov = finished(segments, activity)
        if not options.words:
            segments = [replace(seg, words=()) for seg in segments]
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
            chunks=decoded,
            language_source=source,
            coverage=cov,
        )

    def transcribe_many(self, requests: Sequence[RecordingRequest]) -> list[Transcription | Exception]:
        """One :meth:`transcribe` after another: this is the fallback engine (a checkpoint
        nobody converted to CTranslate2), kept simple rather than fast, so the windows of a
        coalesced request are not batched across files here. A failure of one recording
        (bad audio, a language the checkpoint lacks) is returned in its place."""
        answers: list[Transcription | Exception] = []
        for audio, options, activity in requests:
            try:
                answers.append(self.transcribe(audio, options, activity))
            except (TwiAsrError, ValueError) as exc:
                answers.append(exc)
        return answers

    def _decode(
        self,
        audio: np.ndarray,
        windows: list[Window],
        options: DecodeOptions,
        languages: list[str],
        activity: VoiceActivity | None,
        unwritten: list[tuple[float, float]] | None = None,
    ) -> list[Segment]:
        """Segments of ``windows``, decoded ``batch_size`` windows at a time with timestamps;
        ``unwritten``, where given, gets what the decoder left after its seek points
        (:func:`twi_endpoint.timeline.seek_point`)."""
        import torch

        out: list[Segment] = []
        for first in range(0, len(windows), self.batch_size):
            batch = windows[first : first + self.batch_size]
            features = self._processor.feature_extractor(
                [w.audio(audio) for w in batch], sampling_rate=SAMPLE_RATE, return_tensors="pt"
            ).input_features.to(self.device, self._torch_dtype)
            budget = token_budget(max(w.duration_s for w in batch))
            kwargs: dict[str, Any] = {"return_timestamps": True, "max_new_tokens": budget}
            if self.beam_size > 1:
                kwargs["num_beams"] = self.beam_size
            row_languages: list[str | None] = [None] * len(batch)  # the prompts' language tokens
            align = activity is not None  # the timeline places segments by their words
            detect = self.multilingual and options.language_token is None
            # the batch's encoder output for language detection (before ``generate``, which
            # takes the language), then for the word times
            encoded = self._encode(features) if detect else None
            if self.multilingual:  # English-only checkpoints reject language/task
                kwargs["task"] = options.task
                token = options.language_token
                if token is None:
                    kwargs["language"] = row_languages = list(self._detect(encoded))
                    languages += kwargs["language"]
                elif token == NO_LANGUAGE_TOKEN:
                    kwargs["generation_config"] = self._no_language
                else:
                    kwargs["language"] = row_languages = [token] * len(batch)
            with torch.inference_mode(), self._encoder_outputs() as seen:
                rows = self._model.generate(features, **kwargs).tolist()
            timings: list[list[tuple[float, float]] | None] = [None] * len(rows)
            if align:  # word times: cross-attention DTW
                if encoded is None:  # generate's own pass over the whole batch
                    whole = [output for output in seen if output.shape[0] == len(batch)]
                    encoded = whole[0] if len(whole) == 1 else self._encode(features)
                prompts = [self._prompt(language, options.task) for language in row_languages]
                texts = [[t for t in tokens if t < self._eos] for tokens in rows]
                timings = list(self._align(encoded, prompts, texts, [w.duration_s for w in batch]))
            for window, tokens, timing in zip(batch, rows, timings, strict=True):
                out += self._window_segments(window, tokens, timing, activity, budget, unwritten)
        return out

    def _prompt(self, language: str | None, task: str) -> list[int]:
        """The prompt ``generate`` decoded a window after: ``<|startoftranscript|>``, then for
        a multilingual checkpoint the language (none: :data:`NO_LANGUAGE_TOKEN`) and the task."""
        if not self.multilingual:
            return [self._sot]
        ids = self._processor.tokenizer.convert_tokens_to_ids
        middle = [] if language is None else [ids(f"<|{language}|>")]
        return [self._sot, *middle, ids(f"<|{task}|>")]

    @contextlib.contextmanager
    def _encoder_outputs(self) -> Iterator[list[Any]]:
        """Every encoder output computed while the block runs (``generate``'s own pass),
        for the word alignment, which would otherwise encode the batch again (on the bench's
        27 inputs of seeds 0-2, on CPU: 446 against 343 s, the same segments).
        A forward hook, as ``generate`` in transformers 4.51 neither returns its encoder
        output nor takes one from outside for a batch (:meth:`_detect`). ``generate``
        encodes again the rows it decodes again at a higher temperature (one batch of nine
        on the bench's ``speech`` of seed 0): those passes have fewer rows, and the pass
        over the whole batch is the one to read. A call in another thread meanwhile may
        add a pass of as many rows: the caller then encodes again."""
        seen: list[Any] = []
        handle = self._model.model.encoder.register_forward_hook(lambda _m, _i, out: seen.append(out[0]))
        try:
            yield seen
        finally:
            handle.remove()

    def _encode(self, features: Any) -> Any:
        """The encoder's output for a batch of log-mel ``features``."""
        import torch

        with torch.inference_mode():
            return self._model.model.encoder(features).last_hidden_state

    def _align(
        self, encoded: Any, prompts: list[list[int]], texts: list[list[int]], seconds: list[float]
    ) -> list[list[tuple[float, float]]]:
        """Where each window's text tokens start (seconds into the window) and how probable
        the decoder found each: Whisper's own word alignment (openai-whisper's
        ``find_alignment``): the text fed to the decoder once more after
        ``<|notimestamps|>``, the alignment heads' cross-attention over the window's own
        frames only, normalised per frame, median-filtered, and a dynamic time warping path
        through it; the probabilities from the same pass's logits.

        Not transformers' ``return_token_timestamps``: it takes one ``num_frames`` for a
        batch (the longest window's), so a short window beside a full one was aligned over
        its padding and its words were left out as unheard; a list of lengths fails
        whenever ``generate`` decodes a window again at a higher temperature (it hands the
        whole list to the rows decoded again). It reads ``encoded`` (``generate``'s own
        encoder output, :meth:`_encoder_outputs`, or :meth:`_encode`'s where the language
        was detected first) and runs the decoder once over the text; ``generate`` then needs
        no attention weights.
        """
        import torch
        from transformers.models.whisper.generation_whisper import _dynamic_time_warping, _median_filter

        pairs = zip(prompts, texts, strict=True)
        seqs = [[*prompt, self._no_timestamps, *text, self._eos] for prompt, text in pairs]
        width = max(map(len, seqs))
        ids = torch.tensor([s + [self._eos] * (width - len(s)) for s in seqs], device=self.device)
        with torch.inference_mode():
            decoded = self._model.model.decoder(
                input_ids=ids, encoder_hidden_states=encoded, output_attentions=True, use_cache=False
            )
        cross = decoded.cross_attentions
        out: list[list[tuple[float, float]]] = []
        for row, (prompt, text, duration) in enumerate(zip(prompts, texts, seconds, strict=True)):
            if not text:
                out.append([])
                continue
            frames = max(1, min(ENCODER_FRAMES, round(duration * ENCODER_FRAMES_PER_SECOND)))
            heads = torch.stack([cross[layer][row, head] for layer, head in self._alignment_heads])
            weights = heads[:, : len(seqs[row]), :frames].float()
            std, mean = torch.std_mean(weights, dim=-2, keepdim=True, unbiased=False)
            weights = _median_filter((weights - mean) / std, self._median_filter_width).mean(dim=0)
            # the row at <|notimestamps|> predicts the first text token, the last one the end
            matrix = weights[len(prompt) : len(prompt) + len(text) + 1]
            text_indices, time_indices = _dynamic_time_warping(-matrix.double().cpu().numpy())
            jumps = np.pad(np.diff(text_indices), (1, 0), constant_values=1).astype(bool)
            starts = (time_indices[jumps][: len(text)] / ENCODER_FRAMES_PER_SECOND).tolist()
            with torch.inference_mode():
                # the row at <|notimestamps|> and those after it predict the text's tokens
                predicting = decoded.last_hidden_state[row, len(prompt) : len(prompt) + len(text)]
                logits = self._model.proj_out(predicting)
                at = torch.arange(len(text), device=logits.device)
                probs = logits.float().softmax(dim=-1)[at, torch.tensor(text, device=logits.device)].tolist()
            out.append(list(zip(starts, probs, strict=True)))
        return out

    def _window_segments(
        self,
        window: Window,
        tokens: list[int],
        timing: list[tuple[float, float]] | None,
        activity: VoiceActivity | None,
        budget: int,
        unwritten: list[tuple[float, float]] | None = None,
    ) -> list[Segment]:
        """One window's timestamped segments on the recording's timeline; with word times
        (``timing``: where each text token starts and its probability, :meth:`_align`),
        placed by them (:func:`twi_endpoint.timeline.place_window`). What the decoder left
        after its seek point goes to ``unwritten``."""
        decode = self._processor.tokenizer.decode

        def text_of(ids: list[int]) -> str:
            return str(decode(ids, skip_special_tokens=True))

        clock = WindowClock(window, activity)
        # generate stopped at its token limit: as long as that, and no end of text (generate
        # drops a row's own end of text, but pads the shorter rows of a batch with it)
        ran_out = len(tokens) >= budget and self._eos not in tokens
        left = None if ran_out else clock.unwritten(tokens, self._timestamp_begin, self._eos)
        if left is not None and unwritten is not None:
            unwritten.append(left)
        words = activity is not None and timing is not None
        timed = window_segments(
            tokens, clock, self._timestamp_begin, self._eos, text_of, activity, ran_out, final=not words
        )
        if not words:
            return [seg for seg, _ in timed]
        assert timing is not None and activity is not None
        aligned = []
        for seg, r in timed:
            timed_tokens = list(zip(r.tokens, timing[r.first : r.first + len(r.tokens)], strict=False))
            aligned.append((seg, _words(timed_tokens, decode, clock)))
        return place_window(aligned, clock, activity)

    def _detect(self, encoded: Any) -> list[str]:
        """Whisper's own language identification, one per window (recorded in the result),
        on the batch's encoder output (:meth:`_encode`).

        That is one more encoder pass than ``generate``'s own; sharing the encoder output
        with ``generate`` breaks batched decoding in transformers 4.51 (a ``TypeError``
        when it decodes a window again), and a deployment that configures the language (a
        Twi fine-tune must) never pays this.
        """
        import torch
        from transformers.modeling_outputs import BaseModelOutput

        with torch.inference_mode():
            ids = self._model.detect_language(encoder_outputs=BaseModelOutput(last_hidden_state=encoded))
        return [self._id_to_language.get(int(i), "en") for i in ids.view(-1).tolist()]


def _without_language(generation_config: Any) -> Any:
    """A copy under which ``generate`` neither forces nor detects a language token (it detects
    one when ``lang_to_id`` exists and no language is given): the prompt is
    ``<|sot|><|task|>``, for a checkpoint trained without a language token."""
    config = copy.deepcopy(generation_config)
    config.language = None
    config.forced_decoder_ids = None
    if hasattr(config, "lang_to_id"):
        del config.lang_to_id
    return config


def _words(
    timed_tokens: list[tuple[int, tuple[float, float]]], decode: Callable[..., str], clock: WindowClock
) -> list[Word]:
    """One segment's ``(token, (time, probability))`` grouped into words (a token that starts
    with a space starts a word), each timed from its first token to the next word's, in
    recording time (the last word: to its last token's time), its probability its tokens'
    mean (as the CTranslate2 engine's)."""
    groups: list[tuple[list[int], float, float, list[float]]] = []
    for token, (at, p) in timed_tokens:
        if not groups or str(decode([token])).startswith(" "):
            groups.append(([token], at, at, [p]))
        else:
            ids, start, _, probs = groups[-1]
            groups[-1] = ([*ids, token], start, at, [*probs, p])
    out = []
    for k, (ids, at, last, probs) in enumerate(groups):
        end = groups[k + 1][1] if k + 1 < len(groups) else last
        start, stop = clock.span(at, max(end, at))
        out.append(Word(round(start, 3), round(stop, 3), str(decode(ids)), round(float(np.mean(probs)), 3)))
    return out


def load_transformers_engine(
    model_dir: str | Path,
    device: str | None = None,
    batch_size: int | None = None,
    beam_size: int = DEFAULT_BEAM_SIZE,
) -> TransformersEngine:
    """Entry point shaped like the CTranslate2 engine's ``load_ctranslate2_engine``."""
    return TransformersEngine(model_dir, device=device, batch_size=batch_size, beam_size=beam_size)
