"""Twi by name on the local stack: a model directory that declares its Twi token (``yo``) is
asked for ``tw``, ``twi`` or ``ak`` by upload metadata, or by the deployment's default; every
result says ``language: "tw"``, records the token used and who chose it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from twi_contract import LANGUAGE_DECLARATION_FILE, write_language_declaration
from twi_lambdas import names

from twi_asr.local.config import LocalConfig
from twi_asr.local.stack import LocalStack

RESULT_TIMEOUT_S = 240.0
CLIP = "twi_34997394.mp3"
# key -> (x-amz-meta-language, the language_source the result must record)
UPLOADS: dict[str, tuple[str | None, str]] = {
    "audio/twi/Dɛn na ɛno bɛkyerɛ (tw).mp3": ("tw", "request"),
    "audio/twi/Dɛn na ɛno bɛkyerɛ (twi).mp3": ("twi", "request"),
    "audio/twi/Dɛn na ɛno bɛkyerɛ (ak).mp3": ("ak", "request"),
    "audio/twi/Dɛn na ɛno bɛkyerɛ.mp3": (None, "config"),  # the deployment's default applies
}
REFUSED_KEY = "audio/twi/Ɔkɔmfoɔ.mp3"


@pytest.fixture(scope="module")
def stack(ct2_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """Whisper base as a Twi fine-tune would be packaged (its files plus a declaration), with
    the deployment's default language ``twi`` (``twi-asr local up --language twi``)."""
    model = tmp_path_factory.mktemp("twi-model")
    for item in ct2_model_dir.iterdir():
        if item.name != LANGUAGE_DECLARATION_FILE:
            (model / item.name).symlink_to(item.resolve())
    write_language_declaration(model, "yo")
    workdir = tmp_path_factory.mktemp("twi-stack")
    with LocalStack(model_dir=model, workdir=workdir, config=LocalConfig(language="twi")) as running:
        yield running


def test_twi_by_name_reaches_the_declared_token(stack: LocalStack, data_clips: dict[str, Any]) -> None:
    for key, (language, _) in UPLOADS.items():
        stack.upload(data_clips[CLIP].path, key, {names.META_LANGUAGE: language} if language else None)
    stack.upload(data_clips[CLIP].path, REFUSED_KEY, {names.META_LANGUAGE: "ak GH"})
    for key, (language, source) in UPLOADS.items():
        where, document = stack.wait_for_result(key, RESULT_TIMEOUT_S)
        assert where.startswith(names.TRANSCRIPTS_PREFIX), f"{key} ({language}) failed: {document}"
        assert document["source"]["key"] == key
        assert document["language"] == "tw"
        meta = document["metadata"]
        assert (meta["language_token"], meta["language_source"]) == ("yo", source), key
    where, document = stack.wait_for_result(REFUSED_KEY, RESULT_TIMEOUT_S)
    assert where.startswith(names.FAILED_PREFIX)
    assert document["reason"].startswith("invalid x-amz-meta-language 'ak GH': expected a language code")
