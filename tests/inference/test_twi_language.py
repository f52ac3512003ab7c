"""Twi by name: ``tw``/``twi``/``ak`` take the token the model directory declares
(``twi_language.json``), or none at all, in both engines; the result reports ``tw`` and
records the token. Asserted on the tokens handed to the decoder.

The models are Whisper base in a directory of links plus a declaration, as a Twi fine-tune
would be packaged; what base makes of the prompt does not matter here, only the prompt.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from twi_contract import LANGUAGE_DECLARATION_FILE, LanguageDeclaration, write_language_declaration
from twi_endpoint.errors import InvalidRequestError, ModelLoadError
from twi_endpoint.request import ModelLanguages, bind_language, model_languages, read_model_languages
from twi_endpoint.service import LoadedModel, prepare_request, transcribe
from twi_endpoint.settings import EndpointSettings
from twi_endpoint.types import DecodeOptions

CLIP = "librivox_0880.wav"  # 3 s: the prompt is what is tested, not the text


def linked_copy(model_dir: Path, out: Path) -> Path:
    """``out`` with a link to each file of ``model_dir``: the same weights, its own declaration."""
    out.mkdir()
    for item in model_dir.iterdir():
        if item.name != LANGUAGE_DECLARATION_FILE:
            (out / item.name).symlink_to(item.resolve())
    return out


def run(
    model: Any, languages_dir: Path, attributes: str, data_clips: dict, language: str | None = None
) -> dict:
    """One request through the service, against the declaration now in ``languages_dir``."""
    cfg = EndpointSettings(language=language)
    loaded = LoadedModel(model, read_model_languages(languages_dir), cfg)
    request = prepare_request(data_clips[CLIP].path.read_bytes(), "audio/wav", attributes, cfg)
    return transcribe(request, loaded)


# --- binding, no model needed -------------------------------------------------------------
def test_twi_takes_the_declared_token(ct2_model_dir: Path) -> None:
    codes = model_languages(ct2_model_dir)
    declared = ModelLanguages(codes, LanguageDeclaration("yo", ("fante",)))
    for language in ("tw", "fante"):
        bound = bind_language(DecodeOptions(language), declared, "request")
        assert (bound.language, bound.language_token) == ("tw", "yo")
    silent = bind_language(DecodeOptions("tw"), ModelLanguages(codes, LanguageDeclaration("none")), "config")
    assert (silent.language, silent.language_token) == ("tw", "none")
    assert bind_language(DecodeOptions("en"), declared, "request") == DecodeOptions("en")
    assert bind_language(DecodeOptions(None), declared, "request") == DecodeOptions(None)


def test_undeclared_twi_is_refused_with_the_fix(ct2_model_dir: Path) -> None:
    undeclared = ModelLanguages(model_languages(ct2_model_dir))
    with pytest.raises(InvalidRequestError) as info:
        bind_language(DecodeOptions("tw"), undeclared, "request", asked="ak")
    message = str(info.value)
    assert message.startswith("invalid language 'ak' (from CustomAttributes): this model has no <|tw|> token")
    assert "twi_language.json" in message and "LANGUAGE_TOKEN=yo" in message
    with pytest.raises(InvalidRequestError, match=r"'xx' \(from TWI_ASR_LANGUAGE\).*no <\|xx\|>") as other:
        bind_language(DecodeOptions("xx"), undeclared, "config")
    assert "twi_language.json" not in str(other.value)  # only Twi needs a declaration


def test_a_declared_token_the_model_lacks_fails_at_load(ct2_model_dir: Path, tmp_path: Path) -> None:
    folder = linked_copy(ct2_model_dir, tmp_path / "model")
    write_language_declaration(folder, "zz")
    with pytest.raises(ModelLoadError, match=r"twi_language.json declares the token <\|zz\|>"):
        read_model_languages(folder)


# --- CTranslate2 ----------------------------------------------------------------------------
class _Ct2Spy:
    """The CTranslate2 model, recording the prompts given to ``generate`` and ``align``
    (in ``prompts``, which the engine's two instances can share)."""

    def __init__(self, model: Any, prompts: list[list[int]] | None = None) -> None:
        self._model = model
        self.prompts: list[list[int]] = [] if prompts is None else prompts

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def generate(self, features: Any, prompts: list[list[int]], **kwargs: Any) -> Any:
        self.prompts += prompts
        return self._model.generate(features, prompts, **kwargs)

    def align(self, features: Any, sot: list[int], *args: Any, **kwargs: Any) -> Any:
        self.prompts.append(list(sot))
        return self._model.align(features, sot, *args, **kwargs)


@pytest.fixture(scope="module")
def ct2(ct2_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, _Ct2Spy, Path]]:
    from twi_endpoint.ct2_engine import load_ctranslate2_engine

    folder = linked_copy(ct2_model_dir, tmp_path_factory.mktemp("twi-ct2") / "model")
    engine = load_ctranslate2_engine(folder, device="cpu")
    spy = engine._model = _Ct2Spy(engine._model)
    if engine._solo is not None:  # a window alone is aligned on the all-core instance
        engine._solo = _Ct2Spy(engine._solo, spy.prompts)
    yield engine, spy, folder


@pytest.mark.parametrize(
    ("token", "attributes", "prompt"),
    [
        ("yo", "language=twi;words=true", "<|startoftranscript|><|yo|><|transcribe|>"),
        ("yo", "language=AK", "<|startoftranscript|><|yo|><|transcribe|>"),
        ("none", "language=tw;words=true", "<|startoftranscript|><|transcribe|>"),
    ],
)
def test_ct2_prompts_with_the_declared_token(
    ct2: tuple[Any, _Ct2Spy, Path], data_clips: dict, token: str, attributes: str, prompt: str
) -> None:
    engine, spy, folder = ct2
    write_language_declaration(folder, token)
    spy.prompts.clear()
    result = run(engine, folder, attributes, data_clips)
    decode = engine._whisper.hf_tokenizer.decode
    prompts = {decode(p, skip_special_tokens=False) for p in spy.prompts}
    # decode and align; whisper-base loops on Twi, and a loop to the token budget is decoded
    # again as text alone: the same prompt, then <|notimestamps|>
    assert prompts - {f"{prompt}<|notimestamps|>"} == {prompt}
    assert result["language"] == "tw"
    meta = result["metadata"]
    assert (meta["language_token"], meta["language_source"]) == (token, "request")


def test_ct2_deployment_default_is_reported_as_config(
    ct2: tuple[Any, _Ct2Spy, Path], data_clips: dict
) -> None:
    engine, _, folder = ct2
    write_language_declaration(folder, "yo")
    result = run(engine, folder, "", data_clips, language="tw")
    assert result["language"] == "tw"
    assert (result["metadata"]["language_token"], result["metadata"]["language_source"]) == ("yo", "config")
    detected = run(engine, folder, "language=auto", data_clips, language="tw")
    assert detected["metadata"]["language_source"] == "detected"
    assert detected["metadata"]["language_token"] == detected["language"] == "en"


def test_ct2_without_a_declaration_names_the_fix(ct2: tuple[Any, _Ct2Spy, Path], data_clips: dict) -> None:
    engine, spy, folder = ct2
    (folder / LANGUAGE_DECLARATION_FILE).unlink(missing_ok=True)
    spy.prompts.clear()
    with pytest.raises(InvalidRequestError, match=r"invalid language 'tw' .*twi_language.json"):
        run(engine, folder, "language=tw", data_clips)
    assert spy.prompts == []  # refused before any decoding


# --- transformers ----------------------------------------------------------------------------
class _Stop(Exception):
    """Raised by the decoder spy once it has the prompt: on CPU a whole decode takes ~20 s."""


@pytest.fixture(scope="module")
def hf(hf_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, list, Path]]:
    """The transformers engine, recording the decoder's input on ``generate``'s first step
    (and stopping there when the list holds ``_Stop``)."""
    from twi_endpoint.hf_engine import load_transformers_engine

    folder = linked_copy(hf_model_dir, tmp_path_factory.mktemp("twi-hf") / "model")
    engine = load_transformers_engine(folder, device="cpu")
    decoder = engine._model.get_decoder()
    forward = decoder.forward
    prompts: list[list[int]] = []

    def spy(*args: Any, **kwargs: Any) -> Any:
        ids = kwargs.get("input_ids")
        if ids is not None and ids.shape[-1] > 1:  # the prompt; later steps feed one token
            stop = _Stop in prompts
            prompts[:] = ids.tolist()
            if stop:
                raise _Stop
        return forward(*args, **kwargs)

    decoder.forward = spy
    yield engine, prompts, folder


@pytest.mark.parametrize(
    ("token", "prompt"),
    [("yo", "<|startoftranscript|><|yo|><|transcribe|>"), ("none", "<|startoftranscript|><|transcribe|>")],
)
def test_transformers_prompts_with_the_declared_token(
    hf: tuple[Any, list, Path], data_clips: dict, token: str, prompt: str
) -> None:
    """With ``none`` nothing is forced and nothing detected (transformers detects a language
    whenever none is given)."""
    engine, prompts, folder = hf
    write_language_declaration(folder, token)
    prompts[:] = [_Stop]
    with pytest.raises(_Stop):
        run(engine, folder, "language=twi", data_clips)
    assert [engine._processor.tokenizer.decode(p) for p in prompts] == [prompt]
