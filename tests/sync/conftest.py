"""Fixtures of the sync tests: a migrated central database per module, a TCP proxy to it."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from race_control.central import admin
from tests.helpers.postgres import ADMIN_URL, scratch_database
from tests.helpers.tcp_proxy import TcpProxy


@pytest.fixture(scope="module")
def central_db() -> Iterator[str]:
    """The owner URL of one migrated central database for the module (a new partner per test)."""
    with scratch_database() as (owner_url, _name):
        admin.migrate(owner_url)
        yield owner_url


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    """A TcpProxy in front of the test PostgreSQL (cut, refuse, pause the sync's connection)."""
    target = urlsplit(ADMIN_URL)
    with TcpProxy(target.hostname or "127.0.0.1", target.port or 5432) as p:
        yield p
