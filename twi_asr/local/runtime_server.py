"""The local SageMaker Runtime: an HTTP server boto3 reaches via AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME.

Only the wire layer lives here (stdlib ``ThreadingHTTPServer`` on 127.0.0.1); validation is
in ``wire.py`` and the asynchronous work in ``endpoint.py``. Request signatures are not
checked: the credentials are moto's dummies and the socket is loopback only.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from twi_asr.local.config import ACCOUNT_ID, LOOPBACK, LocalConfig
from twi_asr.local.endpoint import LocalAsyncEndpoint
from twi_asr.local.wire import H_FAILURE_LOCATION, H_OUTPUT_LOCATION, WireError, parse_async_invocation

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 1 << 20  # InvokeEndpointAsync sends no payload; refuse to buffer big ones


class RuntimeServer:
    """Serves ``InvokeEndpointAsync`` for one endpoint on a free loopback port."""

    def __init__(self, endpoint: LocalAsyncEndpoint, config: LocalConfig) -> None:
        self.endpoint = endpoint
        self.config = config
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self) -> RuntimeServer:
        handler = type("BoundRuntimeHandler", (_RuntimeHandler,), {"server_side": self})
        httpd = ThreadingHTTPServer((LOOPBACK, 0), handler)
        httpd.daemon_threads = True
        self._httpd = httpd
        self.url = f"http://{LOOPBACK}:{httpd.server_address[1]}"
        self._thread = threading.Thread(target=httpd.serve_forever, name="sagemaker-runtime", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None


class _RuntimeHandler(BaseHTTPRequestHandler):
    server_side: RuntimeServer  # bound per server by RuntimeServer.start
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore expects

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._error(WireError("ValidationError", 413, "request body too large"))
            self.close_connection = True
            return
        self.rfile.read(length)  # InvokeEndpointAsync carries its input in S3, not here
        side = self.server_side
        try:
            invocation = parse_async_invocation(
                self.path,
                self._header,
                endpoint_name=side.endpoint.name,
                account_id=ACCOUNT_ID,
                output_path=side.config.output_path,
                failure_path=side.config.failure_path,
                default_invocation_timeout_s=side.config.invocation_timeout_s,
            )
        except WireError as exc:
            self._error(exc)
            return
        side.endpoint.submit(invocation)
        self._send(
            202,
            {"InferenceId": invocation.inference_id},
            {
                H_OUTPUT_LOCATION: invocation.output_location,
                H_FAILURE_LOCATION: invocation.failure_location,
                "x-amzn-RequestId": invocation.request_id,
            },
        )

    def _header(self, name: str) -> str | None:
        """A header as text. http.server decodes header bytes as Latin-1; botocore sends UTF-8
        (an S3 key with ɛ/ɔ in ``InputLocation``), so undo that to get the real characters."""
        value = self.headers.get(name)
        if value is None:
            return None
        try:
            return value.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            return value

    def do_GET(self) -> None:
        self._error(
            WireError("UnknownOperationException", 404, f"no SageMaker Runtime operation at {self.path}")
        )

    def _error(self, exc: WireError) -> None:
        self._send(
            exc.status,
            {"__type": exc.code, "message": exc.message},
            {"x-amzn-ErrorType": exc.code, "x-amzn-RequestId": str(uuid.uuid4())},
        )

    def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("sagemaker-runtime: " + format, *args)
