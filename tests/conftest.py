"""Shared fixtures: a live server on loopback (SQLite by default)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.api import Api
from tests.livestack import LiveServer, start_server

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("CONTAINERS_CONF", str(REPO / "containers" / "containers.conf"))


@pytest.fixture(scope="module")
def live_server() -> LiveServer:
    server, cleanup = start_server("sqlite")
    yield server
    cleanup()


@pytest.fixture(scope="module")
def root_api(live_server: LiveServer) -> Api:
    return Api.as_user(live_server.api_url, live_server.root_username, live_server.root_password)


@pytest.fixture(scope="session")
def local_registry(tmp_path_factory):
    """A real ``docker-registry`` on 127.0.0.1 for the session (see tests/registry.py)."""
    from tests.registry import registry_available, start_registry

    reason = registry_available()
    if reason:
        pytest.skip(reason)
    registry = start_registry(tmp_path_factory.mktemp("registry"))
    yield registry
    registry.stop()
