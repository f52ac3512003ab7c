"""What crosses the endpoint boundary, written once: request options, content types, the result.

The endpoint (``code/`` in model.tar.gz) and the Lambda functions (their asset) ship apart and
cannot import each other, yet must agree on these facts. This one file sits beside
``inference.py`` (so ``make package`` ships it in ``code/``), the Lambda asset's bundling copies
it next to ``twi_lambdas/`` (``twi_infra.functions``; a test checks that the bytes are the same),
and the project installs it as a top-level module for the CLI, the local stack and the tests.
Standard library only, so it imports the same way in all three places.
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

# --- Request options: SageMaker CustomAttributes ------------------------------------------
# A free-form header of <= 1024 printable ASCII characters. We send ``key=value`` pairs
# separated by ``;`` and ignore keys we do not know, because other tooling may add its own.
CUSTOM_ATTRIBUTES_HEADER: Final = "X-Amzn-SageMaker-Custom-Attributes"  # as the container sees it
MAX_CUSTOM_ATTRIBUTES_CHARS: Final = 1024  # InvokeEndpointAsync's limit
SEPARATOR: Final = ";"
KEY_LANGUAGE: Final = "language"  # see parse_language below
KEY_TASK: Final = "task"  # one of TASKS
KEY_WORDS: Final = "words"  # "true": word-level times in segments[].words
KEY_FILENAME: Final = "filename"  # only names the input in the endpoint's error messages
TASKS: Final = ("transcribe", "translate")
TRUE_VALUES: Final = ("1", "true", "yes", "on")
FALSE_VALUES: Final = ("", "0", "false", "no", "off")
MAX_FILENAME_CHARS: Final = 200  # leaves the other pairs room within the 1024


def format_custom_attributes(
    language: str | None = None, task: str | None = None, filename: str | None = None, words: bool = False
) -> str:
    """``language=tw;task=transcribe;words=true;filename=x.m4a``; empty values are left out.

    Characters the header cannot carry in a file name (non-ASCII such as ɔ, ``;`` and ``=``)
    become ``_``. The language is sent as written; ValueError when ``parse_language`` refuses
    it, or when the result is not <= 1024 printable ASCII characters.
    """
    parse_language(language)
    pairs = [(KEY_LANGUAGE, language), (KEY_TASK, task), (KEY_WORDS, "true" if words else None)]
    if filename:
        safe = "".join(c if c.isascii() and c.isprintable() and c not in ";=" else "_" for c in filename)
        pairs.append((KEY_FILENAME, safe[:MAX_FILENAME_CHARS]))
    value = SEPARATOR.join(f"{key}={val}" for key, val in pairs if val)
    if len(value) > MAX_CUSTOM_ATTRIBUTES_CHARS or not (value.isascii() and value.isprintable()):
        raise ValueError(f"CustomAttributes must be <= 1024 printable ASCII characters: {value!r}")
    return value


def parse_custom_attributes(value: str | None) -> dict[str, str]:
    """``"language=yo; task=transcribe"`` -> ``{"language": "yo", "task": "transcribe"}``.

    Lenient on purpose: a pair without ``=`` or without a key is skipped, keys are
    lower-cased, spaces around keys and values dropped. Never raises.
    """
    pairs: dict[str, str] = {}
    for part in (value or "").split(SEPARATOR):
        key, sep, val = part.partition("=")
        if sep and key.strip():
            pairs[key.strip().lower()] = val.strip()
    return pairs


def parse_flag(value: str, key: str) -> bool:
    """A yes/no value such as ``words=true``; ValueError names the key when it is neither."""
    v = value.strip().lower()
    if v in TRUE_VALUES:
        return True
    if v in FALSE_VALUES:
        return False
    raise ValueError(f"invalid {key}={value!r} in CustomAttributes: expected true or false")


# --- Languages ---------------------------------------------------------------------------
# One grammar wherever a language is named: the CDK context ``language``, the endpoint's
# TWI_ASR_LANGUAGE, an upload's ``x-amz-meta-language``, CustomAttributes ``language=``. So
# synth, submit and the endpoint accept and refuse the same values; what a code means for
# one checkpoint (has it a token? which token stands for Twi?) only the endpoint can tell.
AUTO_SPELLINGS: Final = ("auto", "detect", "none")  # ask for none: the model detects it
TWI: Final = "tw"  # the result's ``language`` for Twi, however it was asked for
TWI_SPELLINGS: Final = ("tw", "twi", "ak", "aka")  # ISO 639 codes of Twi and of Akan
MAX_LANGUAGE_CHARS: Final = 35  # RFC 5646: implementations should take tags this long
# ASCII letters (2-8, BCP 47's primary subtag), then subtags: tw, ak-GH, en_US, fante.
# Printable ASCII without ";": it always fits CustomAttributes.
_LANGUAGE_TAG: Final = re.compile(r"[a-z]{2,8}(?:[-_][a-z0-9]{1,8})*", re.ASCII | re.IGNORECASE)
LANGUAGE_EXPECTED: Final = "a language code such as tw (Twi), en or yo, or auto to let the model detect it"


def parse_language(value: str | None) -> str | None:
    """What a language value asks for. ``None``: detect it (unset, empty, or a spelling of
    auto); ``"tw"`` for every spelling of Twi (``Twi``, ``ak-GH``); otherwise the primary
    subtag lower-cased (``en-US`` -> ``en``: Whisper has no regions), which the model must
    know as a token or as a declared alias of Twi. ValueError, naming the value, otherwise.
    """
    text = (value or "").strip()
    if text.lower() in ("", *AUTO_SPELLINGS):
        return None
    if len(text) > MAX_LANGUAGE_CHARS or not _LANGUAGE_TAG.fullmatch(text):
        raise ValueError(f"invalid language {value!r}: expected {LANGUAGE_EXPECTED}")
    primary = re.split("[-_]", text.lower())[0]
    return TWI if primary in TWI_SPELLINGS else primary


# --- How a checkpoint takes Twi: twi_language.json beside the weights -----------------------
# Whisper has no Twi token, so a fine-tune answers to the one it was trained with. The model
# directory declares it: ``{"token": "yo", "aliases": ["fante"]}``, where "none" means
# trained without a language token (the prompt then carries none) and the aliases are more
# names of Twi for this model. ``make package MODEL=... LANGUAGE_TOKEN=yo`` writes the file.
LANGUAGE_DECLARATION_FILE: Final = "twi_language.json"
NO_LANGUAGE_TOKEN: Final = "none"
_WHISPER_CODE: Final = re.compile(r"[a-z]{2,3}")  # <|en|>, <|haw|>, <|yue|>


@dataclass(frozen=True)
class LanguageDeclaration:
    token: str  # the language token the checkpoint was trained with for Twi, or NO_LANGUAGE_TOKEN
    aliases: tuple[str, ...] = ()  # parsed (parse_language), beside TWI_SPELLINGS

    def means_twi(self, language: str | None) -> bool:
        """Whether a parsed language names Twi on this checkpoint."""
        return language == TWI or (language is not None and language in self.aliases)


def language_token(value: str) -> str:
    """A declared token: a Whisper language code (``yo``) or ``none``, lower-cased; else ValueError."""
    token = value.strip().lower()
    if token != NO_LANGUAGE_TOKEN and not _WHISPER_CODE.fullmatch(token):
        raise ValueError(
            f"invalid language token {value!r}: expected the Whisper language code the model was "
            f"trained with for Twi (such as yo or en), or {NO_LANGUAGE_TOKEN} for no language token"
        )
    return token


def _declaration(token: str, aliases: Iterable[str]) -> LanguageDeclaration:
    parsed = []
    for alias in aliases:
        name = parse_language(alias) if isinstance(alias, str) else None
        if name is None:
            raise ValueError(f"invalid alias {alias!r}: expected a language name such as fante")
        parsed.append(name)
    return LanguageDeclaration(language_token(token), tuple(dict.fromkeys(parsed)))


def read_language_declaration(model_dir: str | os.PathLike[str]) -> LanguageDeclaration | None:
    """The model directory's declaration; None without the file. ValueError naming the file
    when it is not what ``write_language_declaration`` writes."""
    path = Path(model_dir) / LANGUAGE_DECLARATION_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("token"), str):
            raise ValueError('expected {"token": "yo", "aliases": [...]}')
        aliases = data.get("aliases") or []
        if not isinstance(aliases, list):
            raise ValueError("aliases must be a list of names")
        return _declaration(data["token"], aliases)
    except ValueError as exc:  # json.JSONDecodeError is one
        raise ValueError(f"{path}: {exc}") from None


def write_language_declaration(
    model_dir: str | os.PathLike[str], token: str, aliases: Iterable[str] = ()
) -> Path:
    """Declare in ``model_dir`` the token its checkpoint takes for Twi; the file's path.
    Validated the way the endpoint reads it; ValueError when ``model_dir`` is no directory."""
    folder = Path(model_dir)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a model directory")
    declared = _declaration(token, aliases)
    path = folder / LANGUAGE_DECLARATION_FILE
    body = {"token": declared.token, "aliases": list(declared.aliases)}
    path.write_text(json.dumps(body, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


# --- Content types -------------------------------------------------------------------------
# The endpoint sniffs the bytes; the ContentType a caller sends is only a hint (and names
# the input in errors). Callers send the type the file's extension implies.
ACCEPT_JSON: Final = "application/json"  # the result below (the default)
ACCEPT_TEXT: Final = "text/plain"  # the bare transcript
GENERIC_CONTENT_TYPE: Final = "application/octet-stream"  # any bytes: the endpoint sniffs them


@dataclass(frozen=True)
class AudioType:
    container: str  # container_of(sniff(...)) for such a file
    content_type: str  # the ContentType sent to the endpoint


# extension -> type. Several extensions share a container (m4a/mp4/3gp are all ISO BMFF).
EXTENSIONS: Final = {
    "wav": AudioType("wav", "audio/wav"),
    "wave": AudioType("wav", "audio/wav"),
    "flac": AudioType("flac", "audio/flac"),
    "mp3": AudioType("mp3", "audio/mpeg"),
    "mpga": AudioType("mp3", "audio/mpeg"),
    "ogg": AudioType("ogg", "audio/ogg"),
    "oga": AudioType("ogg", "audio/ogg"),
    "opus": AudioType("ogg", "audio/ogg"),  # RFC 7845: Opus files are Ogg
    "m4a": AudioType("mp4", "audio/mp4"),
    "mp4": AudioType("mp4", "video/mp4"),
    "m4v": AudioType("mp4", "video/mp4"),
    "mov": AudioType("mp4", "video/quicktime"),
    "3gp": AudioType("mp4", "audio/3gpp"),
    "3g2": AudioType("mp4", "audio/3gpp2"),
    "aac": AudioType("aac", "audio/aac"),
    "webm": AudioType("webm", "audio/webm"),
    "mka": AudioType("webm", "audio/x-matroska"),
    "mkv": AudioType("webm", "video/x-matroska"),
    "amr": AudioType("amr", "audio/amr"),
    "wma": AudioType("asf", "audio/x-ms-wma"),
    "asf": AudioType("asf", "video/x-ms-asf"),
    "aif": AudioType("aiff", "audio/aiff"),
    "aiff": AudioType("aiff", "audio/aiff"),
    "avi": AudioType("avi", "video/x-msvideo"),
}

# container -> content type to send when the bytes contradict the extension: its first one above
CONTAINER_CONTENT_TYPES: Final = {t.container: t.content_type for t in reversed(EXTENSIONS.values())}


# --- What audio looks like: the first bytes --------------------------------------------------
# Submit checks before paying for a GPU request (a ``.mp3`` that is really a PNG would fail
# late with a worse message); the endpoint picks its decoder and names what is not audio.
SNIFF_BYTES: Final = 64  # enough for every signature below (ftyp brand at 8..12, ASF GUID 16)
_EBML: Final = b"\x1a\x45\xdf\xa3"  # Matroska / WebM
_ASF_GUID: Final = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
# Formats sniff() tells apart inside one container: Opus in Ogg, a 3GPP brand of ISO BMFF.
_CONTAINER_OF: Final = {"opus": "ogg", "3gp": "mp4"}
_NOT_AUDIO: Final = (  # magic -> what it is, in the words of the error message
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x7fELF", "an executable"),
)
_TEXT_PRINTABLE_SHARE: Final = 0.95  # above this share of printable characters, UTF-8 is text


def sniff(data: bytes) -> str | None:
    """The audio format the first bytes announce ("wav", "opus", "3gp", ...), or None."""
    head, magic, kind = data[:SNIFF_BYTES], data[:4], data[8:12]
    if (magic == b"RIFF" and kind in (b"WAVE", b"RF64")) or magic in (b"RF64", b"BW64"):
        return "wav"
    if magic == b"RIFF" and kind == b"AVI ":
        return "avi"
    if magic == b"fLaC":
        return "flac"
    if magic == b"OggS":
        return "opus" if b"OpusHead" in head else "ogg"
    if magic == b"FORM" and kind in (b"AIFF", b"AIFC"):
        return "aiff"
    if head[4:8] == b"ftyp":
        return "3gp" if head[8:11] == b"3gp" else "mp4"
    if magic == _EBML:
        return "webm"
    if head[:5] == b"#!AMR":
        return "amr"
    if head[:16] == _ASF_GUID:
        return "asf"
    if head[:3] == b"ID3":
        return "mp3"
    if len(head) >= 2 and head[0] == 0xFF:
        if head[1] & 0xF6 == 0xF0:  # ADTS sync word, layer bits 00
            return "aac"
        if head[1] & 0xE0 == 0xE0 and head[1] & 0x06 != 0:  # MPEG audio frame sync, layer I-III
            return "mp3"
    return None


def container_of(audio_format: str) -> str:
    """The container a sniffed format belongs to, as ``EXTENSIONS`` names it ("opus" -> "ogg")."""
    return _CONTAINER_OF.get(audio_format, audio_format)


def describe_non_audio(head: bytes) -> str | None:
    """What the bytes clearly are when they are clearly not audio ("a PNG image"), else None."""
    for magic, what in _NOT_AUDIO:
        if head.startswith(magic):
            return what
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "a WebP image"
    text = _utf8_prefix(head)
    if text and sum(c.isprintable() or c in "\r\n\t" for c in text) / len(text) > _TEXT_PRINTABLE_SHARE:
        return "text"
    return None


def _utf8_prefix(head: bytes) -> str | None:
    """The sample as UTF-8 text, allowing a multi-byte character cut off at its end."""
    for cut in range(4):
        try:
            return head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return None


# --- The result: the JSON output_fn returns, kept as-is in transcripts/<path>.json ----------
class ResultKeys:
    TRANSCRIPT: Final = "transcript"
    LANGUAGE: Final = "language"  # what was asked ("tw"), or detected; None when neither
    SEGMENTS: Final = "segments"  # [{start, end, text[, words]}], seconds from the start
    METADATA: Final = "metadata"


class SegmentKeys:
    START: Final = "start"
    END: Final = "end"
    TEXT: Final = "text"
    WORDS: Final = "words"  # only with words=true: [{start, end, word[, probability]}]


class WordKeys:
    START: Final = "start"
    END: Final = "end"
    WORD: Final = "word"
    PROBABILITY: Final = "probability"


class MetadataKeys:
    AUDIO_DURATION_SEC: Final = "audio_duration_sec"
    PROCESSING_TIME_SEC: Final = "processing_time_sec"  # decode + inference, what the caller waited for
    RTF: Final = "rtf"  # processing_time_sec / audio_duration_sec
    DEVICE: Final = "device"
    DTYPE: Final = "dtype"
    ENGINE: Final = "engine"
    MODEL: Final = "model"
    BATCH_SIZE: Final = "batch_size"
    BEAM_SIZE: Final = "beam_size"  # hypotheses each window's first decoding kept (1: greedy)
    CHUNKS: Final = "chunks"
    DECODE_TIME_SEC: Final = "decode_time_sec"
    INFERENCE_TIME_SEC: Final = "inference_time_sec"
    LANGUAGE_SOURCE: Final = "language_source"  # "request", "config" or "detected"
    LANGUAGE_TOKEN: Final = "language_token"  # the prompt's token ("yo" for Twi), "none" for none
    TASK: Final = "task"
    SPEECH_SEC: Final = "speech_sec"  # with VAD: speech found in the recording
    SPEECH_COVERED_SEC: Final = "speech_covered_sec"  # of which the segments hold
    UNCOVERED_SPEECH: Final = "uncovered_speech"  # [{start, end}] of speech no segment holds
    GATE: Final = "gate"  # "speech", "silence" (energy) or "no speech" (VAD)
    INPUT_FORMAT: Final = "input_format"  # sniff()'s answer, "unknown" when it had none


# --- Coalesced requests: several short uploads in one endpoint request ---------------------
# Submit packs short uploads that arrive together into one request so that the endpoint
# decodes their windows in one batch; complete fans the answer out into one record per file.
# Files never share a window, and each keeps its own options (language, task, filename).
# The body is a ZIP archive, members STORED (audio is compressed already): ``manifest.json``
# (``{"version": 1, "items": [{"id", "member", "content_type", "custom_attributes"}]}``) and
# one member per file. The answer is ``{"items": [{"id", "result"} | {"id", "error"}],
# "metadata": {...}}``: a file that cannot be decoded or transcribed fails alone.
BATCH_CONTENT_TYPE: Final = "application/x-twi-asr-batch"
BATCH_MANIFEST: Final = "manifest.json"
BATCH_FORMAT_VERSION: Final = 1
MAX_BATCH_ITEMS: Final = 64  # the endpoint refuses a larger batch (submit sends far fewer)


class BatchKeys:
    VERSION: Final = "version"
    ITEMS: Final = "items"
    ID: Final = "id"  # the file's own inference id (what complete maps back to its upload)
    MEMBER: Final = "member"
    CONTENT_TYPE: Final = "content_type"
    CUSTOM_ATTRIBUTES: Final = "custom_attributes"
    RESULT: Final = "result"  # the file's result, shaped as a single request's
    ERROR: Final = "error"  # why this file could not be transcribed (the others still were)
    METADATA: Final = "metadata"  # of the whole request: files, audio seconds, processing time


@dataclass(frozen=True)
class BatchItem:
    """One file of a coalesced request."""

    id: str
    body: bytes
    content_type: str = GENERIC_CONTENT_TYPE
    custom_attributes: str = ""


def pack_batch(items: Iterable[BatchItem]) -> bytes:
    """The request body for ``items`` (ids must be unique)."""
    entries = list(items)
    if len({item.id for item in entries}) != len(entries):
        raise ValueError("batch item ids must be unique")
    buffer = io.BytesIO()
    manifest = []
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for index, item in enumerate(entries):
            member = f"{index:04d}"
            archive.writestr(member, item.body)
            manifest.append(
                {
                    BatchKeys.ID: item.id,
                    BatchKeys.MEMBER: member,
                    BatchKeys.CONTENT_TYPE: item.content_type,
                    BatchKeys.CUSTOM_ATTRIBUTES: item.custom_attributes,
                }
            )
        document = {BatchKeys.VERSION: BATCH_FORMAT_VERSION, BatchKeys.ITEMS: manifest}
        archive.writestr(BATCH_MANIFEST, json.dumps(document))
    return buffer.getvalue()


def unpack_batch(data: bytes, max_items: int = MAX_BATCH_ITEMS) -> list[BatchItem]:
    """The files of a coalesced request body; ValueError says what is wrong with it."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise ValueError(f"not a {BATCH_CONTENT_TYPE} body (a ZIP archive): {exc}") from None
    with archive:
        infos = {info.filename: info for info in archive.infolist()}
        if any(info.compress_type != zipfile.ZIP_STORED for info in infos.values()):
            raise ValueError("batch members must be stored, not compressed")
        if BATCH_MANIFEST not in infos:
            raise ValueError(f"batch has no {BATCH_MANIFEST}")
        try:
            document = json.loads(_read_member(archive, BATCH_MANIFEST))
            version = document[BatchKeys.VERSION]
            entries = document[BatchKeys.ITEMS]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"unreadable {BATCH_MANIFEST}: {exc}") from None
        if version != BATCH_FORMAT_VERSION:
            raise ValueError(f"batch format version {version!r}: this endpoint reads {BATCH_FORMAT_VERSION}")
        if not isinstance(entries, list) or not entries:
            raise ValueError("batch has no items")
        if len(entries) > max_items:
            raise ValueError(f"batch has {len(entries)} items, over the limit of {max_items}")
        items = []
        for entry in entries:
            try:
                item_id = str(entry[BatchKeys.ID])
                member = str(entry[BatchKeys.MEMBER])
                content_type = str(entry.get(BatchKeys.CONTENT_TYPE) or GENERIC_CONTENT_TYPE)
                custom_attributes = str(entry.get(BatchKeys.CUSTOM_ATTRIBUTES) or "")
            except (KeyError, TypeError, AttributeError) as exc:
                raise ValueError(f"unreadable {BATCH_MANIFEST} item: {exc}") from None
            if member not in infos or member == BATCH_MANIFEST:
                raise ValueError(f"batch item {item_id!r} names a member {member!r} the archive lacks")
            items.append(BatchItem(item_id, _read_member(archive, member), content_type, custom_attributes))
    if len({item.id for item in items}) != len(items):
        raise ValueError("batch item ids must be unique")
    return items


def _read_member(archive: zipfile.ZipFile, name: str) -> bytes:
    """A member's bytes; ValueError when the archive is damaged there: zipfile raises
    BadZipFile (bad CRC-32, bad header) or EOFError (cut short) only when it reads it."""
    try:
        return archive.read(name)
    except (zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"damaged batch member {name!r}: {exc}") from None
