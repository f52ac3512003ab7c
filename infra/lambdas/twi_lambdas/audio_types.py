"""What counts as audio: extensions, MIME types and a look at the first bytes.

Submit decides before paying for a GPU request. The extension alone is not trusted (a
``.mp3`` that is really a PNG would waste an invocation and fail late with a worse message)
and not required (a phone may upload ``voice-note`` with no extension): the first 64 bytes,
read with a ranged GET, are checked against the magic numbers of the containers ffmpeg
decodes. What cannot be decided from the bytes falls back to the extension, then to the
S3 Content-Type.
"""

from __future__ import annotations

from dataclasses import dataclass

SNIFF_BYTES = 64  # enough for every signature below (ftyp brand at 8..12, ASF GUID 16)


@dataclass(frozen=True)
class AudioType:
    container: str  # what sniff() returns for such a file
    content_type: str  # what submit sends to the endpoint as ContentType


# extension -> type. Several extensions share a container (m4a/mp4/3gp are all ISO BMFF).
EXTENSIONS: dict[str, AudioType] = {
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
    "webm": AudioType("matroska", "audio/webm"),
    "mka": AudioType("matroska", "audio/x-matroska"),
    "mkv": AudioType("matroska", "video/x-matroska"),
    "amr": AudioType("amr", "audio/amr"),
    "wma": AudioType("asf", "audio/x-ms-wma"),
    "asf": AudioType("asf", "video/x-ms-asf"),
    "aif": AudioType("aiff", "audio/aiff"),
    "aiff": AudioType("aiff", "audio/aiff"),
    "avi": AudioType("avi", "video/x-msvideo"),
}

# container -> content type to send when the bytes contradict the extension
CONTAINER_CONTENT_TYPES: dict[str, str] = {
    "wav": "audio/wav",
    "flac": "audio/flac",
    "mp3": "audio/mpeg",
    "ogg": "audio/ogg",
    "mp4": "audio/mp4",
    "aac": "audio/aac",
    "matroska": "audio/webm",
    "amr": "audio/amr",
    "asf": "audio/x-ms-wma",
    "aiff": "audio/aiff",
    "avi": "video/x-msvideo",
}

_ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
_EBML = b"\x1a\x45\xdf\xa3"


def sniff(head: bytes) -> str | None:
    """The audio container the first bytes announce, or None when they announce none."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:3] == b"ID3":
        return "mp3"
    if head[:4] == b"OggS":
        return "ogg"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head[:4] == _EBML:
        return "matroska"
    if head[:5] == b"#!AMR":
        return "amr"
    if head[:16] == _ASF_GUID:
        return "asf"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if len(head) >= 2 and head[0] == 0xFF:
        if head[1] & 0xF6 == 0xF0:  # ADTS sync word, layer bits 00
            return "aac"
        if head[1] & 0xE0 == 0xE0 and head[1] & 0x06 != 0:  # MPEG audio frame sync, layer I-III
            return "mp3"
    return None


_NON_AUDIO = (
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x7fELF", "an executable"),
)


def describe_non_audio(head: bytes) -> str | None:
    """What the bytes clearly are when they are clearly not audio ("a PNG image"), else None."""
    for magic, what in _NON_AUDIO:
        if head.startswith(magic):
            return what
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "a WebP image"
    text = _utf8_prefix(head)
    if text and all(c.isprintable() or c in "\r\n\t" for c in text):
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
