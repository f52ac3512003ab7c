#!/usr/bin/env python3
"""CDK entry point (cdk.json runs it): `npx cdk synth`, `npx cdk deploy -c key=value ...`.

Configuration is CDK context; see twi_infra/config.py for the keys and their checks.
"""

from __future__ import annotations

import sys

from twi_infra.app_factory import build_app
from twi_infra.config import ConfigError


def main() -> int:
    try:
        app, _ = build_app()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
