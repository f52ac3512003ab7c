"""Where the checkout keeps what the CDK app, packaging and the user's tools share.

The project runs from its checkout (``pip install -e``): the endpoint code that ships as
``code/`` and the cache sit beside the packages, not inside an installed wheel.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

PROJECT_ROOT: Final = Path(__file__).resolve().parents[2]  # <root>/infra/twi_infra/paths.py
ENDPOINT_CODE_DIR: Final = PROJECT_ROOT / "inference"  # exactly what ships as code/ in model.tar.gz
# The endpoint/Lambda contract: in code/ with the rest of inference/, copied into the Lambda asset.
CONTRACT_FILE: Final = ENDPOINT_CODE_DIR / "twi_contract.py"
LAMBDA_SOURCE_DIR: Final = PROJECT_ROOT / "infra" / "lambdas"  # twi_lambdas/, the Lambda asset's root
ENV_CACHE_DIR: Final = "TWI_ASR_CACHE"


def cache_dir() -> Path:
    """The project's cache (default model, packaged archives): ``$TWI_ASR_CACHE`` or ``<project>/.cache``."""
    return Path(os.environ.get(ENV_CACHE_DIR) or PROJECT_ROOT / ".cache")
