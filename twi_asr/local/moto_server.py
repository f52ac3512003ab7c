"""moto in server mode on 127.0.0.1: the local S3, SQS and SNS.

Server mode (not ``mock_aws``) because the Lambda functions run in their own worker processes,
as on AWS, and reach these services over HTTP through ``AWS_ENDPOINT_URL``. moto keeps its
state in module-level backends of *this* process, which is also what makes it deliver S3 ->
SQS and SNS -> SQS notifications: the S3 backend calls the SQS backend directly.

The server is moto's own WSGI application behind werkzeug (what ``ThreadedMotoServer`` runs),
with two additions: ``on_s3_write`` is told about every successful write to S3 (PUT, POST or
DELETE on a bucket or an object) before the response leaves, which is how
``persistence.BucketMirror`` keeps the bucket on disk at write time; and the dispatcher
(``_Dispatcher``) looks up each host name's backend once, not per request.
"""

from __future__ import annotations

import logging
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any
from urllib.parse import unquote

import boto3
from moto.core.request import Request
from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from twi_asr.local import s3_events
from twi_asr.local.config import FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY, LOOPBACK

log = logging.getLogger(__name__)

# moto's backends are process-wide: two servers in one process would share (and reset) them.
_ACTIVE = threading.Lock()
_WRITE_METHODS = frozenset({"PUT", "POST", "DELETE"})

# (bucket, key) after a successful write; key None for a request on the bucket itself
S3WriteHook = Callable[[str, str | None], None]


class MotoServer:
    """A moto server on a free loopback port, its state reset when it starts and stops."""

    def __init__(self, on_s3_write: S3WriteHook | None = None) -> None:
        self._on_s3_write = on_s3_write
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self) -> MotoServer:
        if not _ACTIVE.acquire(blocking=False):
            raise RuntimeError(
                "a local stack is already running in this process (moto's state is per process): "
                "stop it before starting another"
            )
        try:
            s3_events.install()  # S3's versionId and sequencer on every ObjectCreated event
            app: Any = _Dispatcher(create_backend_app)
            if self._on_s3_write is not None:
                app = _S3WriteHook(app, self._on_s3_write)
            server = make_server(LOOPBACK, 0, app, threaded=True, request_handler=MotoRequestHandler)
            self._server = server
            self._thread = threading.Thread(target=server.serve_forever, name="moto-server", daemon=True)
            self._thread.start()
            self.url = f"http://{LOOPBACK}:{server.server_port}"
            self.reset()
        except BaseException:
            self._shutdown()
            _ACTIVE.release()
            raise
        return self

    def reset(self) -> None:
        """Forget every bucket, queue and topic (moto's documented reset API)."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()

    def stop(self) -> None:
        if self._server is None:
            return
        try:
            self.reset()
        finally:
            self._shutdown()
            _ACTIVE.release()

    def _shutdown(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def session(self, region: str) -> boto3.session.Session:
        """A boto3 session with moto's dummy credentials, never the user's own."""
        return boto3.session.Session(
            aws_access_key_id=FAKE_ACCESS_KEY_ID,
            aws_secret_access_key=FAKE_SECRET_ACCESS_KEY,
            region_name=region,
        )

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class _Dispatcher(DomainDispatcherApplication):
    """moto's dispatcher, which looks up each host name's backend once, not per request.

    moto 5.2.5 finds the backend of every request by listing its own package directory (about
    200 ``stat`` calls) and then trying its services' URL patterns in turn, under a lock; the
    answer depends on the host name alone (``s3.us-east-1.amazonaws.com``, the signing service
    of a request to the IP address). Measured on the whole flow (50 uploads, 24 requests per
    upload): moto's CPU per request 2.8 -> 1.6 ms, the stack's process 6.2 -> 4.6 CPU-s, CPU
    the endpoint's workers share on a laptop.
    """

    def __init__(self, create_app: Any) -> None:  # moto types it with every service name
        super().__init__(create_app)
        self._backends: dict[str | None, Any] = {}

    def get_backend_for_host(self, host: str | None) -> Any:
        if host not in self._backends:  # called under the dispatcher's lock
            self._backends[host] = super().get_backend_for_host(host)
        return self._backends[host]


class _S3WriteHook:
    """WSGI middleware: after a successful PUT/POST/DELETE under ``/<bucket>[/<key>]``, call the
    hook before the response is sent, so that what the client was told is written is written.

    The bucket and key are read from the path the way moto reads them for a path-style request
    (the only style used here: the endpoint URL is an IP address): percent-decoded raw path,
    first segment the bucket, the rest the key. SQS (``/<account>/<queue>``) and moto's own
    API (``/moto-api/...``) match the pattern too; the hook ignores buckets it does not keep.
    A hook that fails turns the answer into a 500, which SDKs retry.
    """

    def __init__(self, app: Any, hook: S3WriteHook) -> None:
        self._app = app
        self._hook = hook

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") not in _WRITE_METHODS:
            return self._app(environ, start_response)
        statuses: list[str] = []

        def recording_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            statuses.append(status)
            return start_response(status, headers, exc_info)

        body = self._app(environ, recording_start_response)
        if not statuses or not statuses[-1].startswith("2"):
            return body
        segments = unquote(Request(environ).raw_path).split("/")  # ["", bucket, *key parts]
        bucket = segments[1] if len(segments) > 1 else ""
        key = "/".join(segments[2:]) or None
        try:
            self._hook(bucket, key)
        except Exception:
            log.exception("could not persist the write to s3://%s/%s", bucket, key or "")
            if hasattr(body, "close"):
                body.close()
            message = b"<Error><Code>InternalError</Code><Message>not persisted</Message></Error>"
            start_response(
                "500 Internal Server Error",
                [("Content-Type", "application/xml"), ("Content-Length", str(len(message)))],
                sys.exc_info(),
            )
            return [message]
        return body
