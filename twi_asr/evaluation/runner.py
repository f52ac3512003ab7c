"""Each clip through the endpoint's own handler, in this process, and the language-token probe.

:class:`twi_asr.local_model.LocalModel` loads ``inference/inference.py`` (the file that ships as
``code/inference.py``) and drives ``model_fn``/``input_fn``/``predict_fn``/``output_fn`` with the
request's CustomAttributes, so the numbers here are what the endpoint would produce with the
same model directory and settings (``TWI_ASR_*`` environment variables included).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from twi_contract import (
    GENERIC_CONTENT_TYPE,
    LANGUAGE_DECLARATION_FILE,
    NO_LANGUAGE_TOKEN,
    TWI,
    MetadataKeys,
    ResultKeys,
    format_custom_attributes,
    read_language_declaration,
    write_language_declaration,
)
from twi_lambdas.keys import content_type_for_key

from twi_asr.evaluation.manifest import ManifestClip
from twi_asr.evaluation.metrics import corpus_rate, score
from twi_asr.scoring import WerResult

# --- language tokens -------------------------------------------------------------------------
# A model directory declares the token its checkpoint takes for Twi in twi_language.json
# (twi_contract); a request for language=tw then decodes with that token.
DEFAULT_CANDIDATES = ("yo", "en", "ha", "sw", "ln")  # after none and the declared token
_LANGUAGES_SHOWN = 3  # in a model's language summary


def declared_token(model_dir: str | Path) -> str | None:
    """The token a model directory's ``twi_language.json`` declares; None without (or with a bad) one."""
    try:
        declared = read_language_declaration(model_dir)
    except ValueError:
        return None
    return declared.token if declared else None


def language_label(clip: ClipResult) -> str:
    """``tw as yo (request)``: the language reported, the token decoded with if another, its source."""
    if clip.error and not clip.language_source:
        return "-"
    lang = clip.language or "none"
    token = clip.language_token
    text = f"{lang} as {token}" if token and token != lang else lang
    return f"{text} ({clip.language_source})" if clip.language_source else text


# --- models ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelSpec:
    name: str  # a short label for tables and files
    path: Path


def parse_model_specs(values: Sequence[str]) -> list[ModelSpec]:
    """``DIR`` or ``NAME=DIR`` -> specs; a name defaults to the folder's, made unique (``-2``)."""
    specs: list[ModelSpec] = []
    for value in values:
        name, sep, folder = value.partition("=")
        if not sep or not name or "/" in name:
            name, folder = "", value
        path = Path(folder).expanduser()
        base = name or path.resolve().name or str(path)
        unique, n = base, 1
        while unique in {s.name for s in specs}:
            n += 1
            unique = f"{base}-{n}"
        specs.append(ModelSpec(unique, path))
    return specs


class Transcriber(Protocol):
    def invoke(self, body: bytes, content_type: str, custom_attributes: str = "") -> bytes: ...


def load_model(path: Path) -> Any:
    from twi_asr.local_model import LocalModel

    return LocalModel(path)


# --- one model over a manifest -----------------------------------------------------------------
@dataclass
class ClipResult:
    file: str
    reference: str
    hypothesis: str
    reference_norm: str = ""
    hypothesis_norm: str = ""
    wer: float | None = None
    cer: float | None = None
    word_substitutions: int = 0
    word_deletions: int = 0
    word_insertions: int = 0
    reference_words: int = 0
    char_substitutions: int = 0
    char_deletions: int = 0
    char_insertions: int = 0
    reference_chars: int = 0
    audio_duration_sec: float | None = None
    processing_time_sec: float | None = None
    rtf: float | None = None
    language: str | None = None  # the code the result reports (None: none detected)
    language_source: str | None = None  # request, config or detected
    language_token: str | None = None  # the decoder's token, when the endpoint reports it
    error: str | None = None  # the handler's error; the clip is then scored as an empty hypothesis

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def word_result(self) -> WerResult:
        return WerResult(
            self.wer or 0.0,
            self.word_substitutions,
            self.word_deletions,
            self.word_insertions,
            self.reference_words,
        )

    @property
    def sort_key(self) -> tuple[float, float, str]:
        return (-(self.wer or 0.0), -(self.cer or 0.0), self.file)


@dataclass
class ModelRun:
    name: str
    model_dir: str
    request_language: str | None
    clips: list[ClipResult] = field(default_factory=list)
    engine: str | None = None
    device: str | None = None
    dtype: str | None = None
    load_time_sec: float = 0.0
    wall_time_sec: float = 0.0

    @property
    def sorted_clips(self) -> list[ClipResult]:
        """Worst first: by WER, then CER (then file name)."""
        return sorted(self.clips, key=lambda c: c.sort_key)

    @property
    def wer(self) -> float | None:
        return corpus_rate(c.word_result for c in self.clips)

    @property
    def cer(self) -> float | None:
        from twi_asr.evaluation.metrics import CerResult

        return corpus_rate(
            CerResult(
                c.cer or 0.0, c.char_substitutions, c.char_deletions, c.char_insertions, c.reference_chars
            )
            for c in self.clips
        )

    @property
    def audio_duration_sec(self) -> float:
        return round(sum(c.audio_duration_sec or 0.0 for c in self.clips), 3)

    @property
    def processing_time_sec(self) -> float:
        return round(sum(c.processing_time_sec or 0.0 for c in self.clips), 3)

    @property
    def rtf(self) -> float | None:
        """Total processing time over total audio duration, of the clips the handler timed."""
        timed = [c for c in self.clips if c.processing_time_sec is not None]
        audio = sum(c.audio_duration_sec or 0.0 for c in timed)
        return round(sum(c.processing_time_sec or 0.0 for c in timed) / audio, 4) if audio else None

    @property
    def failures(self) -> int:
        return sum(1 for c in self.clips if c.error)

    @property
    def language_summary(self) -> str:
        """``tw as yo (request)`` when every clip used the same; else ``detected: en 9, yo 3``."""
        done = [c for c in self.clips if not c.error]
        labels = Counter(language_label(c) for c in done)
        if len(labels) <= 1:
            return next(iter(labels), "-")
        sources = sorted({c.language_source or "?" for c in done})
        top = Counter(c.language_token or c.language or "none" for c in done).most_common()
        shown = ", ".join(f"{lang} {n}" for lang, n in top[:_LANGUAGES_SHOWN])
        more = f" +{len(top) - _LANGUAGES_SHOWN} more" if len(top) > _LANGUAGES_SHOWN else ""
        return f"{'/'.join(sources)}: {shown}{more}"

    def summary(self) -> dict[str, Any]:
        return {
            "model": self.name,
            "model_dir": self.model_dir,
            "engine": self.engine,
            "device": self.device,
            "dtype": self.dtype,
            "request_language": self.request_language,
            "language": self.language_summary,
            "clips": len(self.clips),
            "failed": self.failures,
            "wer": self.wer,
            "cer": self.cer,
            "audio_duration_sec": self.audio_duration_sec,
            "processing_time_sec": self.processing_time_sec,
            "rtf": self.rtf,
            "load_time_sec": round(self.load_time_sec, 3),
            "wall_time_sec": round(self.wall_time_sec, 3),
        }


def evaluate_model(
    spec: ModelSpec,
    clips: Sequence[ManifestClip],
    normalise: Callable[[str], str],
    language: str | None = None,
    progress: bool = True,
    loader: Callable[[Path], Any] = load_model,
) -> ModelRun:
    """Load the model behind the handler, transcribe every clip, score it."""
    start = time.perf_counter()
    model = loader(spec.path)
    run = ModelRun(spec.name, str(spec.path), language, load_time_sec=time.perf_counter() - start)
    engine = getattr(model, "engine", None)
    run.engine = getattr(engine, "name", None)
    run.device = getattr(engine, "device", None)
    run.dtype = getattr(engine, "dtype", None)
    with progress_bar(len(clips), spec.name, progress) as advance:
        for clip in clips:
            run.clips.append(transcribe_and_score(model, clip, normalise, language))
            advance()
    run.wall_time_sec = time.perf_counter() - start
    return run


def transcribe_and_score(
    model: Transcriber, clip: ManifestClip, normalise: Callable[[str], str], language: str | None
) -> ClipResult:
    """One clip through ``model.invoke`` (the handler); an error is kept, scored as no words."""
    result: dict[str, Any] = {}
    error = None
    try:
        content_type = content_type_for_key(clip.path.name) or GENERIC_CONTENT_TYPE
        body = clip.path.read_bytes()
        result = json.loads(
            model.invoke(body, content_type, format_custom_attributes(language, None, clip.file))
        )
    except Exception as exc:  # a clip the handler refuses must not stop the run
        error = str(exc) or type(exc).__name__
    meta = result.get(ResultKeys.METADATA) or {}
    out = ClipResult(
        file=clip.file,
        reference=clip.reference,
        hypothesis=str(result.get(ResultKeys.TRANSCRIPT) or ""),
        audio_duration_sec=meta.get(MetadataKeys.AUDIO_DURATION_SEC, clip.duration_s),
        processing_time_sec=meta.get(MetadataKeys.PROCESSING_TIME_SEC),
        rtf=_round(meta.get(MetadataKeys.RTF), 4),
        language=result.get(ResultKeys.LANGUAGE),
        language_source=meta.get(MetadataKeys.LANGUAGE_SOURCE),
        language_token=meta.get(MetadataKeys.LANGUAGE_TOKEN),
        error=error,
    )
    s = score(clip.reference, out.hypothesis, normalise)
    out.reference_norm, out.hypothesis_norm = s.reference, s.hypothesis
    out.wer, out.cer = s.words.wer, s.chars.cer
    out.word_substitutions, out.word_deletions = s.words.substitutions, s.words.deletions
    out.word_insertions, out.reference_words = s.words.insertions, s.words.reference_words
    out.char_substitutions, out.char_deletions = s.chars.substitutions, s.chars.deletions
    out.char_insertions, out.reference_chars = s.chars.insertions, s.chars.reference_chars
    return out


def _round(value: Any, digits: int) -> float | None:
    return round(float(value), digits) if isinstance(value, int | float) else None


# --- language-token probe ----------------------------------------------------------------------
@dataclass
class ProbeCandidate:
    token: str
    run: ModelRun | None = None
    skipped: str | None = None  # why the candidate was not tried

    @property
    def cer(self) -> float | None:
        return self.run.cer if self.run else None

    @property
    def wer(self) -> float | None:
        return self.run.wer if self.run else None


@dataclass
class LanguageProbe:
    name: str
    model_dir: str
    sample: list[str]
    candidates: list[ProbeCandidate]

    @property
    def recommended(self) -> ProbeCandidate | None:
        """The tried candidate with the lowest CER (then WER, then the order tried)."""
        tried = [c for c in self.candidates if c.run is not None and c.run.failures < len(c.run.clips)]
        if not tried:
            return None
        return min(tried, key=lambda c: (c.cer if c.cer is not None else 9e9, c.wer or 0.0))

    def as_dict(self) -> dict[str, Any]:
        best = self.recommended
        return {
            "model": self.name,
            "model_dir": self.model_dir,
            "sample": self.sample,
            "recommended": best.token if best else None,
            "candidates": [
                {"token": c.token, "skipped": c.skipped, **(c.run.summary() if c.run else {})}
                for c in self.candidates
            ],
        }


def candidate_tokens(model_dir: Path, extra: Sequence[str] | None = None) -> list[str]:
    """``none``, the declared token, then ``extra`` (default :data:`DEFAULT_CANDIDATES`), no repeats."""
    tokens = [NO_LANGUAGE_TOKEN]
    declared = declared_token(model_dir)
    if declared:
        tokens.append(declared)
    for t in extra if extra is not None else DEFAULT_CANDIDATES:
        t = t.strip().lower()
        if t and t not in tokens:
            tokens.append(t)
    return tokens


def probe_language(
    spec: ModelSpec,
    clips: Sequence[ManifestClip],
    normalise: Callable[[str], str],
    tokens: Sequence[str],
    progress: bool = True,
    loader: Callable[[Path], Any] = load_model,
) -> LanguageProbe:
    """Decode ``clips`` once per candidate token through the handler; lowest CER wins.

    Each candidate runs exactly as it would be deployed: a copy of the model folder (its files
    symlinked) that declares the token in ``twi_language.json``, asked for ``language=tw``.
    A token the checkpoint has no ``<|xx|>`` for is skipped.
    """
    from twi_endpoint.request import model_languages

    known = model_languages(spec.path)
    probe = LanguageProbe(spec.name, str(spec.path), [c.file for c in clips], [])
    for token in tokens:
        if token != NO_LANGUAGE_TOKEN and known and token not in known:
            probe.candidates.append(ProbeCandidate(token, skipped=f"the model has no <|{token}|> token"))
            continue
        with declared_copy(spec.path, token) as folder:
            run = evaluate_model(
                ModelSpec(f"{spec.name}[{token}]", folder), clips, normalise, TWI, progress, loader
            )
        run.model_dir = str(spec.path)
        probe.candidates.append(ProbeCandidate(token, run))
    return probe


@contextlib.contextmanager
def declared_copy(model_dir: Path, token: str) -> Iterator[Path]:
    """A temporary folder with ``model_dir``'s files symlinked and ``token`` declared."""
    with tempfile.TemporaryDirectory(prefix="twi-asr-probe-") as tmp:
        folder = Path(tmp) / f"{Path(model_dir).resolve().name}"
        folder.mkdir()
        for entry in Path(model_dir).resolve().iterdir():
            if entry.name != LANGUAGE_DECLARATION_FILE:
                os.symlink(entry, folder / entry.name, target_is_directory=entry.is_dir())
        write_language_declaration(folder, token)
        yield folder


# --- progress --------------------------------------------------------------------------------
@contextlib.contextmanager
def progress_bar(total: int, label: str, enabled: bool = True) -> Iterator[Callable[[], None]]:
    """``advance()`` once per clip: a tqdm bar on stderr when it is a terminal, else nothing."""
    if not enabled or not sys.stderr.isatty():
        yield lambda: None
        return
    try:
        from tqdm import tqdm
    except ImportError:  # a one-line counter instead
        done = [0]

        def count() -> None:
            done[0] += 1
            print(f"\r{label}: {done[0]}/{total} clips", end="", file=sys.stderr, flush=True)

        yield count
        print(file=sys.stderr)
        return
    bar = tqdm(total=total, desc=label, unit="clip", file=sys.stderr, leave=False, dynamic_ncols=True)
    try:
        yield lambda: bar.update(1)
    finally:
        bar.close()
