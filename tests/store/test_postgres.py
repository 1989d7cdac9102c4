"""The store on PostgreSQL: migrations, the published client's scenario and a replacement."""

from __future__ import annotations

import pytest

from tests.store import test_workflow as workflow_tests
from tests.store.test_published_client import run_scenario
from tests.store.world import World, make_world

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def world(live_server) -> World:
    created, cleanup = make_world(live_server, backend="postgresql")
    assert created.store.database_uri.startswith("postgresql")
    yield created
    cleanup()


def test_published_client_store_scenario_on_postgresql(world: World) -> None:
    assert len(run_scenario(world)) > 40


def test_replacement_on_postgresql(world: World) -> None:
    workflow_tests.test_newer_approved_version_replaces_the_old(world)


def test_restart_keeps_data_on_postgresql(world: World) -> None:
    before = world.as_("root").ok("GET", "/user", params={"per_page": 100})["data"]
    world.store.restart()
    after = world.as_("root").ok("GET", "/user", params={"per_page": 100})["data"]
    assert [u["id"] for u in after] == [u["id"] for u in before]
