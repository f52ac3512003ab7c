"""Log level for the package, once per container.

The Lambda runtime installs its own handler on the root logger (text or JSON, as the
function's logging config says) but leaves our loggers at WARNING; the decisions worth
reading (submitted, ignored, rejected, stale) are INFO.
"""

from __future__ import annotations

import functools
import logging
import os

from twi_lambdas import names

DEFAULT_LEVEL = "INFO"


@functools.cache
def configure_logging() -> None:
    level = (os.environ.get(names.ENV_LOG_LEVEL) or DEFAULT_LEVEL).upper()
    known = logging.getLevelNamesMapping()
    logging.getLogger("twi_lambdas").setLevel(level if level in known else DEFAULT_LEVEL)
