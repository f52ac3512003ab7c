"""The local moto server's dispatcher: each host name's backend looked up once, the same as moto's."""

from __future__ import annotations

from typing import Any

import pytest
from moto import backends
from moto.server import DomainDispatcherApplication, create_backend_app

from twi_asr.local.moto_server import _Dispatcher

# what the stack's clients send: the signing service's host name, moto's own API, and none
HOSTS = (
    "s3.us-east-1.amazonaws.com",
    "sqs.eu-west-1.amazonaws.com",
    "sns.us-east-1.amazonaws.com",
    "moto_api",
    None,
)


def test_each_host_is_looked_up_once_and_answered_as_moto_does(monkeypatch: pytest.MonkeyPatch) -> None:
    listings: list[int] = []
    real = backends.list_of_moto_modules

    def counted() -> Any:
        listings.append(1)
        return real()

    monkeypatch.setattr(backends, "list_of_moto_modules", counted)
    plain = DomainDispatcherApplication(create_backend_app)
    cached = _Dispatcher(create_backend_app)
    for host in HOSTS:
        expected = plain.get_backend_for_host(host)
        assert cached.get_backend_for_host(host) == expected
        before = len(listings)
        assert cached.get_backend_for_host(host) == expected
        assert len(listings) == before, f"{host}: looked up again"
    assert [cached.get_backend_for_host(h) for h in HOSTS[:3]] == ["s3", "sqs", "sns"]
    assert len(listings) >= 3  # moto's own lookup lists its package each time
