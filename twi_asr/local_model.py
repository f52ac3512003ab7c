"""Run the endpoint's own handler (``inference/inference.py``) in this process.

The CLI and the offline local stack use this instead of a container: the very file that
ships as ``code/inference.py`` is loaded by path and driven through ``model_fn``,
``input_fn``, ``predict_fn`` and ``output_fn`` with a context that carries the request
headers the way the toolkit's model-server context does, CustomAttributes included.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from twi_contract import ACCEPT_JSON, CUSTOM_ATTRIBUTES_HEADER, GENERIC_CONTENT_TYPE, format_custom_attributes
from twi_infra.paths import ENDPOINT_CODE_DIR
from twi_infra.runtime_values import ENTRY_POINT

_LOADED: dict[Path, ModuleType] = {}


def load_handler(code_dir: str | Path | None = None) -> ModuleType:
    """Import ``<code_dir>/inference.py`` (default: this checkout's ``inference/``) once.

    ``code_dir`` goes on ``sys.path`` first, as the toolkit does with ``code/``, so the
    module imports the ``twi_endpoint`` package that sits beside it.
    """
    folder = Path(code_dir or ENDPOINT_CODE_DIR).resolve()
    if folder in _LOADED:
        return _LOADED[folder]
    entry = folder / ENTRY_POINT
    if not entry.is_file():
        raise FileNotFoundError(f"no handler at {entry}: expected the endpoint's code/ folder")
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location(f"twi_asr_handler_{len(_LOADED)}", entry)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _LOADED[folder] = module
    return module


class _RequestProperties:
    """Shaped like ``mms.context.RequestProcessor``: what the handler reads headers from."""

    def __init__(self, headers: dict[str, str]) -> None:
        self._headers = headers

    def get_request_properties(self) -> dict[str, str]:
        return self._headers


class RequestContext:
    """The part of the model server's context the handler uses: the current request headers."""

    def __init__(self, headers: dict[str, str]) -> None:
        self.request_processor = [_RequestProperties(headers)]


class LocalModel:
    """One loaded model behind the endpoint's handler. Not thread-safe: one request at a time.

    Errors the caller can fix are raised as ``twi_endpoint.errors.TwiAsrError``, with
    exactly the message the endpoint would return.
    """

    def __init__(self, model_dir: str | Path, code_dir: str | Path | None = None) -> None:
        self.handler = load_handler(code_dir)
        self.model_dir = Path(model_dir)
        self.model = self.handler.model_fn(str(self.model_dir), None)

    @property
    def engine(self) -> Any:
        """The loaded engine (name, model_name, device, dtype, batch_size)."""
        return getattr(self.model, "engine", None)

    def invoke(
        self, body: bytes, content_type: str, custom_attributes: str = "", accept: str = ACCEPT_JSON
    ) -> bytes:
        headers = {"Content-Type": content_type, "Accept": accept}
        if custom_attributes:
            headers[CUSTOM_ATTRIBUTES_HEADER] = custom_attributes
        context = RequestContext(headers)
        data = self.handler.input_fn(body, content_type, context)
        prediction = self.handler.predict_fn(data, self.model, context)
        return bytes(self.handler.output_fn(prediction, accept, context))

    def transcribe(self, body: bytes, content_type: str = GENERIC_CONTENT_TYPE, **attributes: Any) -> Any:
        """Convenience: ``invoke`` with keyword CustomAttributes (``language="en"``), JSON result parsed."""
        return json.loads(self.invoke(body, content_type, format_custom_attributes(**attributes)))
