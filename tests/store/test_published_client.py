"""The published vantage6-client 4.14's store subclients against our store and server."""

from __future__ import annotations

import json
from pathlib import Path

from tests.published import run_published_scenario
from tests.security.auth_fixtures import PASSWORD, make_user
from tests.store.world import USERS, World

SCENARIO = Path(__file__).parent / "published" / "store_scenario.py"


def run_scenario(world: World, collaboration_id: int | None = None) -> list[dict]:
    """Run the scenario in the published client's venv; returns its steps (asserts success)."""
    port = world.store.port
    extra = f"extra{port}"
    root = world.server_apis["root"]
    make_user(root, extra, org=world.org_ids["A"])
    # the store looks a new user up at the registrar's server with the registrar's token:
    # admin must see the users of organization A there
    viewer = root.ok("GET", "/role", params={"name": "Viewer"})["data"][0]["id"]
    admin = root.ok("GET", "/user", params={"username": f"admin{port}"})["data"][0]["id"]
    root.ok("PATCH", f"/user/{admin}", json={"roles": [viewer]})
    users = {name: [f"{name}{port}", PASSWORD] for name in USERS}
    users["root"] = [world.server.root_username, world.server.root_password]
    spec = {
        "host": "http://127.0.0.1",
        "port": world.server.port,
        "store_api_url": world.store.api_url,
        "store_id": 1,
        "collaboration_id": collaboration_id,
        "users": users,
        "store_ids": world.store_ids,
        "extra_user": extra,
    }
    return run_published_scenario(SCENARIO, [json.dumps(spec)], timeout=600)


def test_published_client_store_scenario(world: World) -> None:
    assert len(run_scenario(world)) > 40


def test_published_client_couples_the_store_to_a_collaboration(live_server) -> None:
    """``client.store.create/set/list/update/delete`` through our server, then the scenario."""
    from tests.store.world import make_world

    world, cleanup = make_world(live_server)
    try:
        root = world.server_apis["root"]
        orgs = list(world.org_ids.values())
        collab = root.ok(
            "POST",
            "/collaboration",
            json={
                "name": f"store collab {world.store.port}",
                "encrypted": False,
                "organization_ids": orgs,
            },
        )["id"]
        # a user finds the stores of a collaboration they may view (as in vantage6 4.x)
        viewer = root.ok("GET", "/role", params={"name": "Viewer"})["data"][0]["id"]
        for name in USERS:
            user = root.ok("GET", "/user", params={"username": f"{name}{world.store.port}"})
            root.ok("PATCH", f"/user/{user['data'][0]['id']}", json={"roles": [viewer]})
        steps = run_scenario(world, collaboration_id=collab)
        assert any(s.get("step") == "couple store to collaboration" for s in steps)
    finally:
        cleanup()
