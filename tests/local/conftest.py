"""Fixtures of the local-stack tests: a provisioned moto server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from local_stack_helpers import FAST_REDRIVE, MotoAws

from twi_asr.local.moto_server import MotoServer
from twi_asr.local.provision import provision


@pytest.fixture
def moto_aws() -> Iterator[MotoAws]:
    """moto in server mode with the stack's bucket, queues, DLQs, topics and notification."""
    with MotoServer() as server:
        session = server.session(FAST_REDRIVE.region)
        resources = provision(session, server.url, FAST_REDRIVE)
        yield MotoAws(
            server=server,
            config=FAST_REDRIVE,
            resources=resources,
            s3=session.client("s3", endpoint_url=server.url),
            sqs=session.client("sqs", endpoint_url=server.url),
            sns=session.client("sns", endpoint_url=server.url),
        )
