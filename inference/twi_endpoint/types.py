"""Plain data shared by the audio front end, the engines and the handler.

Kept free of torch/transformers/ctranslate2 imports so that anything (the CLI, the
Lambda contract tests, the benchmark) can use these types without loading a model stack.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeAlias

import numpy as np

if TYPE_CHECKING:
    from twi_endpoint.segmentation import VoiceActivity

SAMPLE_RATE = 16_000  # Hz: Whisper's input rate
CHUNK_SECONDS = 30  # Whisper's fixed receptive window
N_SAMPLES = SAMPLE_RATE * CHUNK_SECONDS  # 480000 samples in a 30-second chunk
ENCODER_FRAMES_PER_SECOND = 50  # Whisper's encoder output (20 ms a frame): the word alignment's time unit
ENCODER_FRAMES = ENCODER_FRAMES_PER_SECOND * CHUNK_SECONDS  # 1500 for a 30-second chunk
TIME_PRECISION = 1 / ENCODER_FRAMES_PER_SECOND  # 0.02 s per Whisper timestamp token
WHISPER_TEXT_CONTEXT = 448  # the decoder's positions (n_text_ctx): prompt and text together
# The most tokens a window may generate: Whisper's own ``sample_len``, half the decoder's
# context. A dense 29 s window of read speech takes ~120 (words, punctuation, timestamps);
# a decoder that reaches it has usually fallen into a loop (timeline.without_loops).
SAMPLE_LEN = WHISPER_TEXT_CONTEXT // 2
# And no more than its audio can hold: the densest windows measured (fast conversation, 2026-12-02)
# took 6.5-7.9 tokens per second of audio, Twi clips prompted as a fine-tune would be 4-6.2,
# decoder loops 83; a short window's budget then ends a loop early instead of after 224.
MAX_TOKENS_PER_SECOND = 20
MIN_TOKEN_BUDGET = 32  # a short window still gets a sentence and its timestamps
# The loudest 30 ms of a recording that holds speech is louder than this (room tone alone is
# about -60 dBFS): the silence gate's default, the transformers engine's test of a window
# without VAD, and how far the VAD raises a quiet recording (segmentation.vad_gain).
QUIETEST_SPEECH_DBFS = -50.0


def token_budget(seconds: float, most: int = SAMPLE_LEN) -> int:
    """Tokens a window of ``seconds`` of audio may generate (a batch: its longest window's)."""
    return min(most, max(MIN_TOKEN_BUDGET, math.ceil(seconds * MAX_TOKENS_PER_SECOND)))


@dataclass(frozen=True)
class DecodeOptions:
    """What to decode, per request. ``language=None`` means the model's own detection.

    Whisper has no Twi token: a fine-tune is prompted with the token it was trained with
    (``token="yo"``, or ``NO_LANGUAGE_TOKEN`` for none at all) while the result reports the
    language asked for (``tw``) and records the token (``twi_endpoint.request.bind_language``).
    """

    language: str | None = None  # what the result reports; None: detect it
    task: str = "transcribe"  # or "translate"
    words: bool = False  # word-level times in the result (CustomAttributes ``words=true``)
    token: str | None = None  # the prompt's language token when not ``language`` itself

    @property
    def language_token(self) -> str | None:
        """The prompt's language token: a code, ``NO_LANGUAGE_TOKEN``, or None to detect one."""
        return self.token or self.language


@dataclass(frozen=True)
class Word:
    start: float  # seconds from the start of the recording
    end: float
    text: str  # as the tokenizer spells it, with its leading space
    probability: float | None = None  # the decoder's mean token probability, where known
    # Whisper's anomaly score of the word as the alignment timed it (hallucination.word_anomaly),
    # kept once the word is moved onto the speech; not part of the result
    anomaly: float | None = None
    # where a first word was before it was moved off talk that does not hold it
    # (timeline.start_where_heard): time the decoder read and wrote nothing of, which the
    # coverage check counts as held; not part of the result
    decoded_from: float | None = None


@dataclass(frozen=True)
class Segment:
    start: float  # seconds from the start of the recording
    end: float  # seconds
    text: str
    words: tuple[Word, ...] = ()  # filled when the engine aligned this segment's words
    # Whisper's word-anomaly test, on the words as aligned (hallucination.looks_made_up)
    made_up: bool = False


@dataclass(frozen=True)
class SpeechCoverage:
    """How much of the speech the VAD found ended up in the transcript (seconds).

    ``uncovered`` lists each speech region of at least a second that no segment holds
    even after it was decoded again on its own: a place for the user to listen to.
    """

    speech_sec: float
    covered_sec: float
    uncovered: tuple[tuple[float, float], ...] = ()


@dataclass
class Transcription:
    """What an engine returns for one recording."""

    text: str
    language: str | None
    segments: list[Segment] = field(default_factory=list)
    chunks: int = 0  # windows actually decoded (after silence skipping)
    language_source: str = "config"  # "config", "request" or "detected"
    coverage: SpeechCoverage | None = None  # None when no VAD ran (e.g. VAD switched off)


# One recording for ``Engine.transcribe_many``: mono float32 audio at SAMPLE_RATE, what to
# decode, and its VAD when the caller already ran it (None: the engine runs it).
RecordingRequest: TypeAlias = tuple[np.ndarray, DecodeOptions, "VoiceActivity | None"]


class Engine(Protocol):
    """One loaded model. Loaded once per process, reused by every request."""

    name: str  # "transformers" or "ctranslate2"
    model_name: str  # directory name or model id, for the result metadata
    device: str  # "cuda" or "cpu": what really runs
    dtype: str  # "float16", "float32", "int8", "int8_float16": what really runs
    batch_size: int

    @property
    def beam_size(self) -> int:
        """Hypotheses each window's first decoding keeps (1: greedy)."""
        ...

    def transcribe(
        self, audio: np.ndarray, options: DecodeOptions, activity: VoiceActivity | None = None
    ) -> Transcription:
        """Transcribe mono float32 audio at ``SAMPLE_RATE`` of any length; ``activity`` is
        the request's VAD when the caller already ran it (it is never run twice)."""
        ...

    def transcribe_many(self, requests: Sequence[RecordingRequest]) -> list[Transcription | Exception]:
        """Transcribe several recordings in one go, one answer per request in their order:
        its transcription, or the exception that failed it alone (bad audio, a language or
        task this model lacks); a failure of the engine itself is raised. No recording's
        audio or text conditions another's decoding."""
        ...
