"""moto in server mode on 127.0.0.1: the local S3, SQS and SNS.

Server mode (not ``mock_aws``) because the Lambda functions run in their own worker processes,
as on AWS, and reach these services over HTTP through ``AWS_ENDPOINT_URL``. moto keeps its
state in module-level backends of *this* process, which is also what makes it deliver S3 ->
SQS and SNS -> SQS notifications: the S3 backend calls the SQS backend directly.
"""

from __future__ import annotations

import threading
import urllib.request
from types import TracebackType

import boto3
from moto.server import ThreadedMotoServer

from twi_asr.local.config import FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY, LOOPBACK

# moto's backends are process-wide: two servers in one process would share (and reset) them.
_ACTIVE = threading.Lock()


class MotoServer:
    """A moto server on a free loopback port, its state reset when it starts and stops."""

    def __init__(self) -> None:
        self._server: ThreadedMotoServer | None = None
        self.url = ""

    def start(self) -> MotoServer:
        if not _ACTIVE.acquire(blocking=False):
            raise RuntimeError(
                "a local stack is already running in this process (moto's state is per process): "
                "stop it before starting another"
            )
        try:
            server = ThreadedMotoServer(ip_address=LOOPBACK, port=0, verbose=False)
            server.start()
            host, port = server.get_host_and_port()
            self._server = server
            self.url = f"http://{host}:{port}"
            self.reset()
        except BaseException:
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
            self._server.stop()
            self._server = None
            _ACTIVE.release()

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
