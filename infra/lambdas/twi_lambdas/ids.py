"""Deterministic inference ids: the same object version always gets the same id.

Format: ``<24 hex of sha256(bucket, key, version)>-<ETag>`` (at most 24 + 1 + 38 = 63
characters, printable ASCII: within InvokeEndpointAsync's 64). Carrying the ETag lets
complete tell, without any stored state, whether the object under the key is still the
one that was transcribed.
"""

from __future__ import annotations

import hashlib
import re

MAX_INFERENCE_ID_CHARS = 64
_HASH_CHARS = 24
_ID_RE = re.compile(r"^[0-9a-f]{24}-([0-9a-f]{32}(?:-\d{1,5})?)$")


def inference_id(bucket: str, key: str, etag: str, version_id: str | None = None) -> str:
    etag = etag.strip('"')
    digest = hashlib.sha256(f"{bucket}\n{key}\n{version_id or ''}".encode()).hexdigest()[:_HASH_CHARS]
    value = f"{digest}-{etag}"
    if len(value) > MAX_INFERENCE_ID_CHARS or not value.isascii() or not value.isprintable():
        # an ETag that is not an MD5 (SSE-KMS objects have opaque ETags): hash it too
        value = f"{digest}-{hashlib.sha256(etag.encode()).hexdigest()[:32]}"
    return value


def etag_of(inference_id_value: str | None) -> str | None:
    """The ETag inside an id made by ``inference_id``; None for ids made elsewhere."""
    if not inference_id_value:
        return None
    match = _ID_RE.match(inference_id_value)
    return match.group(1) if match else None
