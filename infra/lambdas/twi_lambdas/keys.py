"""S3 key and URI mapping: upload key <-> result keys. Plain functions, no AWS.

``<path>`` is the key below ``audio/`` with its extension kept, so ``x.mp3`` and ``x.wav``
never collide: ``audio/a/b.m4a`` -> ``transcripts/a/b.m4a.json`` / ``failed/a/b.m4a.json``.
The longest of those is 11 bytes longer than the upload key, so an upload key of 1014-1024
bytes is valid but its results are not (``result_keys_fit``).
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import unquote_plus

from twi_contract import EXTENSIONS

from twi_lambdas import names

_S3_URI_RE = re.compile(r"^s3://([^/]+)/(.+)$")
MAX_KEY_BYTES: Final = 1024  # S3's limit on an object key, in UTF-8 bytes


def decode_event_key(raw: str) -> str:
    """An object key as S3 puts it in event notifications (``+`` for space, ``%C9%94`` for ɔ)."""
    return unquote_plus(raw)


def is_folder_marker(key: str) -> bool:
    """Console "Create folder" writes a zero-byte ``.../`` object: not an upload."""
    return key.endswith("/")


def audio_path(key: str) -> str | None:
    """``<path>`` for a key under ``audio/``, or None for a key that is not an upload."""
    if not key.startswith(names.AUDIO_PREFIX):
        return None
    path = key[len(names.AUDIO_PREFIX) :]
    return path or None


def transcript_key(path: str, suffix: str = names.RESULT_SUFFIX) -> str:
    return f"{names.TRANSCRIPTS_PREFIX}{path}{suffix}"


def failed_key(path: str) -> str:
    return f"{names.FAILED_PREFIX}{path}{names.RESULT_SUFFIX}"


def result_keys(path: str) -> list[str]:
    """Every key the pipeline may write for ``<path>``: the transcript, its subtitles, the failure."""
    suffixes = (names.RESULT_SUFFIX, names.SRT_SUFFIX, names.VTT_SUFFIX)
    return [*(transcript_key(path, suffix) for suffix in suffixes), failed_key(path)]


def longest_result_key_bytes(path: str) -> int:
    return max(len(key.encode("utf-8")) for key in result_keys(path))


def result_keys_fit(path: str) -> bool:
    """Whether S3 accepts every result key of ``<path>`` (moto does not check the limit)."""
    return longest_result_key_bytes(path) <= MAX_KEY_BYTES


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key). SageMaker writes keys verbatim (not URL-encoded)."""
    match = _S3_URI_RE.match(uri)
    if match is None:
        raise ValueError(f"not an s3://bucket/key URI: {uri!r}")
    return match.group(1), match.group(2)


def extension(key: str) -> str:
    """Lower-case extension without the dot ('' when the file name has none)."""
    name = key.rsplit("/", 1)[-1]
    stem, dot, ext = name.rpartition(".")
    return ext.lower() if dot and stem else ""


def file_name(key: str) -> str:
    return key.rsplit("/", 1)[-1]


def content_type_for_key(key: str) -> str | None:
    """The audio MIME type a key's extension implies ('audio/mp4' for '.m4a'), or None."""
    found = EXTENSIONS.get(extension(key))
    return found.content_type if found else None
