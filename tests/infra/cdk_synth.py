"""Synthesize TwiAsrStack into a cloud assembly directory and read what `cdk synth` writes there."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Node 20 is past its end of life for jsii; the banner would bury test output.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

# What CDK would see on a machine with no AWS profile at all.
OFFLINE_ENV: dict[str, str] = {}


@dataclass(frozen=True)
class Synth:
    stack: Any  # TwiAsrStack
    template: Any  # aws_cdk.assertions.Template
    outdir: Path

    @property
    def template_file(self) -> Path:
        return self.outdir / f"{self.stack.stack_name}.template.json"

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        data: dict[str, Any] = json.loads(self.template_file.read_text())
        return dict(data["Resources"])

    def of_type(self, cfn_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["Type"] == cfn_type}

    def logical_ids(self) -> dict[str, str]:
        """Construct path -> logical id, from the metadata `cdk synth` writes beside the template."""
        metadata = json.loads((self.outdir / f"{self.stack.stack_name}.metadata.json").read_text())
        return {
            path: entry["data"]
            for path, entries in metadata.items()
            for entry in entries
            if entry["type"] == "aws:cdk:logicalId"
        }

    def logical_id(self, cfn_type: str, path_part: str) -> str:
        """The one resource of ``cfn_type`` whose construct path contains ``path_part``."""
        typed = self.of_type(cfn_type)
        matches = sorted(
            {lid for path, lid in self.logical_ids().items() if path_part in path and lid in typed}
        )
        assert len(matches) == 1, f"{cfn_type} with {path_part!r} in its path: {matches}"
        return matches[0]

    def lambda_asset_dir(self) -> Path:
        """The one directory asset holding the functions' code, as `cdk deploy` would zip it."""
        manifest = json.loads((self.outdir / f"{self.stack.stack_name}.assets.json").read_text())
        dirs = [self.outdir / f["source"]["path"] for f in manifest["files"].values()]
        found = [d for d in dirs if d.is_dir() and (d / "twi_lambdas" / "submit.py").is_file()]
        assert len(found) == 1, found
        return found[0]

    def validation_report(self) -> dict[str, Any]:
        report: dict[str, Any] = json.loads((self.outdir / "validation-report.json").read_text())
        return report


def synthesize(outdir: Path, context: dict[str, Any] | None = None) -> Synth:
    from aws_cdk.assertions import Template
    from twi_infra.app_factory import build_app

    _app, stack = build_app(context=context, env=OFFLINE_ENV, outdir=str(outdir))
    template = Template.from_stack(stack)  # synthesizes the app, cdk-nag included
    return Synth(stack, template, outdir)
