"""Per-request options: SageMaker CustomAttributes, read through the toolkit's context.

The keys and their ``key=value;...`` format are the contract's (``twi_contract``); this
module turns them into decode options and checks them against the model.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twi_contract import (
    CUSTOM_ATTRIBUTES_HEADER,
    KEY_FILENAME,
    KEY_LANGUAGE,
    KEY_TASK,
    KEY_WORDS,
    parse_custom_attributes,
    parse_flag,
)

from twi_endpoint.errors import InvalidRequestError
from twi_endpoint.settings import EndpointSettings, normalize_language, normalize_task
from twi_endpoint.types import DecodeOptions

_LANGUAGE_TOKEN = re.compile(r"^<\|([a-z]{2,3})\|>$")  # <|en|>, <|haw|>, <|yue|>


@dataclass(frozen=True)
class RequestOptions:
    """What one request asks for, and where each choice came from."""

    decode: DecodeOptions
    language_source: str  # "request", "config" or "detected" (language None)
    filename: str | None = None


def custom_attributes_from_context(context: Any) -> str:
    """The CustomAttributes header of the current request, or "" (no context, no header).

    The toolkit passes its MMS context; the current request's headers are in
    ``context.request_processor[0].get_request_properties()``. Header case varies between
    the model server and tests, so the lookup ignores it.
    """
    try:
        properties = context.request_processor[0].get_request_properties()
    except (AttributeError, IndexError, TypeError):
        return ""
    wanted = CUSTOM_ATTRIBUTES_HEADER.lower()
    for key, val in (properties or {}).items():
        if str(key).lower() == wanted:
            return val.decode("utf-8", "replace") if isinstance(val, bytes) else str(val)
    return ""


def resolve_options(custom_attributes: str, settings: EndpointSettings) -> RequestOptions:
    """Request beats configuration; the result records which one decided the language."""
    attrs = parse_custom_attributes(custom_attributes)
    task = normalize_task(attrs[KEY_TASK]) if attrs.get(KEY_TASK) else settings.task
    if KEY_LANGUAGE in attrs:
        language, source = normalize_language(attrs[KEY_LANGUAGE]), "request"
    else:
        language, source = settings.language, "config"
    if language is None:
        source = "detected"
    try:
        words = parse_flag(attrs.get(KEY_WORDS, ""), KEY_WORDS)
    except ValueError as exc:
        raise InvalidRequestError(str(exc)) from None
    return RequestOptions(
        DecodeOptions(language=language, task=task, words=words), source, attrs.get(KEY_FILENAME)
    )


def model_languages(model_dir: str | Path) -> frozenset[str]:
    """Language codes the checkpoint has tokens for, read from its ``tokenizer.json``.

    Both the transformers and the CTranslate2 layouts ship ``tokenizer.json``, so this works
    before any engine is loaded. Empty when unknown (then no validation is possible).
    """
    path = Path(model_dir) / "tokenizer.json"
    if not path.is_file():
        return frozenset()
    with open(path, encoding="utf-8") as f:
        added = json.load(f).get("added_tokens", [])
    codes = (m.group(1) for tok in added if (m := _LANGUAGE_TOKEN.match(str(tok.get("content", "")))))
    return frozenset(codes)


def check_language(language: str | None, known: frozenset[str], source: str) -> None:
    """Refuse a language the model has no token for, instead of decoding garbage.

    A Twi fine-tune usually keeps Whisper's language list (no ``tw``/``ak``): the deployment
    must name the token it was trained with (often ``yo`` or ``en``), or ask for detection.
    """
    if language is None or not known or language in known:
        return
    where = "CustomAttributes" if source == "request" else "TWI_ASR_LANGUAGE"
    raise InvalidRequestError(
        f"invalid language {language!r} (from {where}): this model has no <|{language}|> token; "
        f"use one of {', '.join(sorted(known))}, or 'auto' to let the model detect it"
    )
