"""Build the CDK app: settings from context, the stack, cdk-nag's AwsSolutions checks.

``app.py`` and the tests both call ``build_app`` so that what is tested is what deploys.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from twi_infra.config import StackSettings
from twi_infra.output_keys import STACK_NAME
from twi_infra.paths import cache_dir
from twi_infra.stack import TwiAsrStack

CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"


def build_app(
    context: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None, outdir: str | None = None
) -> tuple[cdk.App, TwiAsrStack]:
    """The app with ``TwiAsrStack``; ``context`` adds to cdk.json's, ``env`` defaults to ``os.environ``.

    Under the CDK CLI, cdk.json's context already arrives through the environment; loading it
    here too changes nothing there and makes tests and scripts synthesize the same template.
    """
    cdk_json: dict[str, Any] = json.loads(CDK_JSON.read_text(encoding="utf-8")).get("context", {})
    app = cdk.App(context={**cdk_json, **(context or {})}, outdir=outdir)
    settings = StackSettings.from_context(app.node.try_get_context, os.environ if env is None else env)
    stack = TwiAsrStack(
        app,
        STACK_NAME,
        settings=settings,
        staging_dir=cache_dir() / "model-packages",
        env=cdk.Environment(account=settings.account, region=settings.region),
        description="Twi speech recognition: S3 audio/ -> SageMaker async Whisper -> S3 transcripts/",
    )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack
