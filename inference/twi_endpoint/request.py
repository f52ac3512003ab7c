"""Per-request options: SageMaker CustomAttributes, read through the toolkit's context.

The keys and their ``key=value;...`` format are the contract's (``twi_contract``); this
module turns them into decode options and checks them against the model.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from twi_contract import (
    CUSTOM_ATTRIBUTES_HEADER,
    KEY_FILENAME,
    KEY_LANGUAGE,
    KEY_TASK,
    KEY_WORDS,
    LANGUAGE_DECLARATION_FILE,
    NO_LANGUAGE_TOKEN,
    TWI,
    LanguageDeclaration,
    parse_custom_attributes,
    parse_flag,
    read_language_declaration,
)

from twi_endpoint.errors import InvalidRequestError, ModelLoadError
from twi_endpoint.settings import ENV_LANGUAGE, EndpointSettings, normalize_language, normalize_task
from twi_endpoint.types import DecodeOptions

_LANGUAGE_TOKEN = re.compile(r"^<\|([a-z]{2,3})\|>$")  # <|en|>, <|haw|>, <|yue|>


@dataclass(frozen=True)
class RequestOptions:
    """What one request asks for, and where each choice came from."""

    decode: DecodeOptions
    language_source: str  # "request", "config" or "detected" (language None)
    filename: str | None = None
    asked: str | None = None  # the language as the request wrote it ("ak"), for messages


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
    """Request beats configuration; the result records which one decided the language.
    An empty ``language=`` chooses nothing: the configured default applies."""
    attrs = parse_custom_attributes(custom_attributes)
    task = normalize_task(attrs[KEY_TASK]) if attrs.get(KEY_TASK) else settings.task
    asked = attrs.get(KEY_LANGUAGE) or None
    if asked:
        language, source = normalize_language(asked, "CustomAttributes"), "request"
    else:
        language, source = settings.language, "config"
    if language is None:
        source = "detected"
    try:
        words = parse_flag(attrs.get(KEY_WORDS, ""), KEY_WORDS)
    except ValueError as exc:
        raise InvalidRequestError(str(exc)) from None
    return RequestOptions(
        DecodeOptions(language=language, task=task, words=words), source, attrs.get(KEY_FILENAME), asked
    )


@dataclass(frozen=True)
class ModelLanguages:
    """What a checkpoint answers to: its language tokens, and the one it takes for Twi."""

    codes: frozenset[str]  # codes it has <|xx|> tokens for; empty when unknown
    declaration: LanguageDeclaration | None = None  # twi_language.json; None: not declared


def read_model_languages(model_dir: str | Path) -> ModelLanguages:
    """Tokens and Twi declaration of ``model_dir``; a declaration that cannot work fails here."""
    codes = model_languages(model_dir)
    try:
        declared = read_language_declaration(model_dir)
    except ValueError as exc:
        raise ModelLoadError(str(exc)) from None
    if declared and codes and declared.token not in (*codes, NO_LANGUAGE_TOKEN):
        raise ModelLoadError(
            f"{Path(model_dir) / LANGUAGE_DECLARATION_FILE} declares the token <|{declared.token}|>, which "
            f"this model does not have: use one of {', '.join(sorted(codes))}, or {NO_LANGUAGE_TOKEN}"
        )
    return ModelLanguages(codes, declared)


def bind_language(
    decode: DecodeOptions, model: ModelLanguages, source: str, asked: str | None = None
) -> DecodeOptions:
    """``decode`` with the prompt's language token settled for this checkpoint.

    Twi (any spelling, or an alias the model declares) takes the declared token and is
    reported as ``tw``; any other code, and Twi on an undeclared model, must be one of the
    checkpoint's own tokens (``check_language``).
    """
    declared = model.declaration
    if declared is not None and declared.means_twi(decode.language):
        return replace(decode, language=TWI, token=declared.token)
    check_language(decode.language, model.codes, source, asked)
    return decode


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


def check_language(
    language: str | None, known: frozenset[str], source: str, asked: str | None = None
) -> None:
    """Refuse a language the model has no token for, instead of decoding garbage.

    A Twi fine-tune usually keeps Whisper's language list (no ``tw``/``ak``): its model
    directory declares the token it was trained with (``twi_language.json``), which the
    message names as the fix.
    """
    if language is None or not known or language in known:
        return
    where = "CustomAttributes" if source == "request" else ENV_LANGUAGE
    fix = (
        f"; a Twi fine-tune declares the token it was trained with in {LANGUAGE_DECLARATION_FILE} "
        "beside its weights (make package MODEL=... LANGUAGE_TOKEN=yo, or none)"
        if language == TWI
        else ""
    )
    raise InvalidRequestError(
        f"invalid language {asked or language!r} (from {where}): this model has no <|{language}|> token; "
        f"use one of {', '.join(sorted(known))}, or 'auto' to let the model detect it{fix}"
    )
