"""The published vantage6-client 4.14's store subclients against our store and server."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.published import published_python
from tests.security.auth_fixtures import PASSWORD, make_user
from tests.store.world import USERS, World

SCENARIO = Path(__file__).parent / "published" / "store_scenario.py"


def run_scenario(world: World, store_id_on_server: int | None = None) -> list[dict]:
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
        "store_id_on_server": store_id_on_server,
        "users": users,
        "store_ids": world.store_ids,
        "extra_user": extra,
    }
    result = subprocess.run(
        [str(published_python()), str(SCENARIO), json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    steps = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    failed = [s for s in steps if not s.get("ok", True)]
    assert result.returncode == 0 and not failed, (
        f"failed: {failed}\nstdout:{result.stdout[-4000:]}\nstderr:{result.stderr[-4000:]}"
    )
    assert steps[-1] == {"done": True}
    return steps


def test_published_client_store_scenario(world: World) -> None:
    assert len(run_scenario(world)) > 40
