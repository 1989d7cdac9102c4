"""Server tests run against SQLite and PostgreSQL."""

from __future__ import annotations

import os

import pytest

from tests.livestack import LiveServer, start_server

BACKENDS = os.environ.get("V6_TEST_DATABASES", "sqlite,postgresql").split(",")


@pytest.fixture(scope="module", params=BACKENDS)
def live_server(request) -> LiveServer:
    server, cleanup = start_server(request.param)
    yield server
    cleanup()
