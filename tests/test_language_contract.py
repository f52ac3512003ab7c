"""One language grammar (``twi_contract``): CDK synth, submit and the endpoint accept and refuse
the same values, and mean the same by them; the model directory's Twi declaration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from twi_contract import (
    LANGUAGE_DECLARATION_FILE,
    LanguageDeclaration,
    format_custom_attributes,
    parse_language,
    read_language_declaration,
    write_language_declaration,
)
from twi_endpoint.errors import InvalidRequestError
from twi_endpoint.request import resolve_options
from twi_endpoint.settings import EndpointSettings
from twi_infra import runtime_values
from twi_infra.config import ConfigError, StackSettings
from twi_lambdas import submit
from twi_lambdas.errors import Rejected
from twi_lambdas.settings import Settings

REFUSED = object()
# value -> what it asks for: a code, None (detect, or no choice), or REFUSED everywhere
LANGUAGES: dict[str, object] = {
    "tw": "tw",
    "TWI": "tw",
    "ak": "tw",
    "aka": "tw",
    "ak-GH": "tw",
    "tw_GH": "tw",
    "en": "en",
    "yo": "yo",
    "en-US": "en",
    "haw": "haw",
    "fante": "fante",  # not Whisper's: an alias a model may declare
    "xx-long": "xx",  # well-formed; only the model can say it has no <|xx|>
    "auto": None,
    "AUTO": None,
    "detect": None,
    "none": None,
    "": None,
    "  ": None,
    "t": REFUSED,
    "Twi please": REFUSED,
    "tw;task=translate": REFUSED,  # would smuggle a second pair into CustomAttributes
    "tw=": REFUSED,
    "twí": REFUSED,  # non-ASCII: CustomAttributes cannot carry it
    "ɔkan": REFUSED,
    "\u212aa": REFUSED,  # KELVIN SIGN lower-cases to an ASCII "k"
    "12": REFUSED,
    "tw-": REFUSED,
    "abcdefghi": REFUSED,  # a primary subtag has at most 8 letters
    "t" * 200: REFUSED,
    "en-" + "-".join(["abcdefgh"] * 4): REFUSED,  # over 35 characters
}


def _cdk(value: str) -> str | None:
    """What synth keeps for ``-c language=value`` (ConfigError when refused)."""
    return StackSettings.from_context({"language": value}.get).language


def _submit(value: str) -> str | None:
    """What submit forwards for ``x-amz-meta-language: value`` (Rejected when refused)."""
    language, _ = submit._language_and_task(
        {"language": value}, Settings(endpoint_name="ep", bucket_name=None)
    )
    return language


def _endpoint(value: str) -> str | None:
    """What the endpoint decodes for ``language=value`` in CustomAttributes; a value the header
    cannot carry (";" would start another pair) is refused by whoever formats it."""
    return resolve_options(format_custom_attributes(value), EndpointSettings()).decode.language


@pytest.mark.parametrize("value", list(LANGUAGES), ids=[repr(v)[:24] for v in LANGUAGES])
def test_synth_submit_and_endpoint_agree(value: str) -> None:
    expected = LANGUAGES[value]
    if expected is REFUSED:
        with pytest.raises(ConfigError, match="context language="):
            _cdk(value)
        with pytest.raises(Rejected, match="invalid x-amz-meta-language"):
            _submit(value)
        with pytest.raises(ValueError, match="invalid language"):
            _endpoint(value)  # the client and submit format it: refused there
        if ";" not in value:
            with pytest.raises(InvalidRequestError, match=r"invalid language .* \(from CustomAttributes\)"):
                resolve_options(f"language={value}", EndpointSettings())
        with pytest.raises(InvalidRequestError, match=r"\(from TWI_ASR_LANGUAGE\)"):
            EndpointSettings.from_env({"TWI_ASR_LANGUAGE": value})
        with pytest.raises(ValueError, match="invalid language"):
            parse_language(value)
        return
    assert _endpoint(value) == expected
    forwarded = _submit(value)
    assert forwarded == (value.strip() or None)  # untouched: the endpoint parses it
    assert _endpoint(forwarded or "") == expected
    # synth hands its value to the endpoint as TWI_ASR_LANGUAGE, which means the same there
    env = runtime_values.model_environment(
        region="eu-west-1", language=_cdk(value), task="transcribe", hf_model_id=None
    )
    assert EndpointSettings.from_env(env).language == expected


def test_the_deployment_default_applies_only_when_the_request_names_none() -> None:
    configured = EndpointSettings.from_env({"TWI_ASR_LANGUAGE": "Twi"})
    assert configured.language == "tw"
    for attributes in ("", "language=", "task=transcribe"):
        opts = resolve_options(attributes, configured)
        assert (opts.decode.language, opts.language_source) == ("tw", "config")
    opts = resolve_options("language=ak", configured)
    assert (opts.decode.language, opts.language_source, opts.asked) == ("tw", "request", "ak")
    assert resolve_options("language=auto", configured).language_source == "detected"


def test_a_declaration_round_trips(tmp_path: Path) -> None:
    assert read_language_declaration(tmp_path) is None  # no file: today's behaviour
    path = write_language_declaration(tmp_path, "YO", ["Fante", "asante-twi"])
    assert path == tmp_path / LANGUAGE_DECLARATION_FILE
    assert json.loads(path.read_text(encoding="utf-8")) == {"token": "yo", "aliases": ["fante", "asante"]}
    declared = read_language_declaration(tmp_path)
    assert declared == LanguageDeclaration("yo", ("fante", "asante"))
    assert declared.means_twi("tw") and declared.means_twi("fante") and not declared.means_twi("yo")
    write_language_declaration(tmp_path, "none")
    assert read_language_declaration(tmp_path) == LanguageDeclaration("none")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{not json", "twi_language.json: Expecting property name"),
        ('{"aliases": []}', r'expected \{"token": "yo"'),
        ('{"token": "yoruba"}', "invalid language token 'yoruba'"),
        ('{"token": "yo", "aliases": "fante"}', "aliases must be a list"),
        ('{"token": "yo", "aliases": ["auto"]}', "invalid alias 'auto'"),
        ('{"token": "yo", "aliases": ["f a n t e"]}', "invalid language 'f a n t e'"),
    ],
)
def test_a_bad_declaration_names_the_file(tmp_path: Path, body: str, message: str) -> None:
    (tmp_path / LANGUAGE_DECLARATION_FILE).write_text(body, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        read_language_declaration(tmp_path)


def test_writing_refuses_what_reading_would(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="invalid language token 'yoruba'"):
        write_language_declaration(tmp_path, "yoruba")  # a token is a code: <|yo|>
    with pytest.raises(ValueError, match="invalid alias 'auto'"):
        write_language_declaration(tmp_path, "yo", ["auto"])
    with pytest.raises(ValueError, match="is not a model directory"):
        write_language_declaration(tmp_path / "missing", "yo")
    assert not (tmp_path / LANGUAGE_DECLARATION_FILE).exists()
