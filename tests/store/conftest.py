"""A world per module: our server and a store with users in three organizations."""

from __future__ import annotations

import pytest

from tests.store.world import World, make_world


@pytest.fixture(scope="module")
def world(live_server) -> World:
    created, cleanup = make_world(live_server)
    yield created
    cleanup()
