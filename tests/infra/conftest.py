"""Synthesize TwiAsrStack once per session (jsii start-up and synthesis take seconds)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from cdk_synth import Synth, synthesize


@pytest.fixture(scope="session")
def synth_app(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Synth]:
    def make(name: str, context: dict[str, Any] | None = None) -> Synth:
        return synthesize(tmp_path_factory.mktemp(name), context)

    return make


@pytest.fixture(scope="session")
def synth(synth_app: Callable[..., Synth]) -> Synth:
    """The stack exactly as `make synth` builds it (cdk.json context, no AWS profile)."""
    return synth_app("default")
