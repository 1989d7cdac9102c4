"""Our server's ``/algorithmstore``: coupling a real store to collaborations."""

from __future__ import annotations

from tests.livestack import free_port
from tests.store.world import World


def _body(world: World, **extra) -> dict:
    return {
        "algorithm_store_url": world.store.url,
        "name": "store",
        "server_url": world.server.api_url,
        "force": True,
        **extra,
    }


def test_coupling_needs_rights_force_and_a_reachable_store(world: World) -> None:
    root, dev = world.server_apis["root"], world.server_apis["dev"]
    refused = dev.post("/algorithmstore", json=_body(world))
    assert refused.status_code == 403, refused.text
    unforced = root.post("/algorithmstore", json=_body(world, force=False))
    assert unforced.status_code == 400 and "localhost" in unforced.json()["msg"]
    gone = root.post(
        "/algorithmstore",
        json=_body(world, algorithm_store_url=f"http://127.0.0.1:{free_port()}"),
    )
    assert gone.status_code == 404 and "cannot be reached" in gone.json()["msg"]
    no_server_url = root.post("/algorithmstore", json={**_body(world), "server_url": None})
    assert no_server_url.status_code == 400


def test_store_for_all_collaborations(world: World) -> None:
    root = world.server_apis["root"]
    store = root.ok("POST", "/algorithmstore", json=_body(world, name="everyone's"))
    assert store["url"] == world.store.url and store["collaboration"] is None
    collab = root.ok(
        "POST",
        "/collaboration",
        json={"name": "coupling", "encrypted": False, "organization_ids": [world.org_ids["A"]]},
    )["id"]
    again = root.post("/algorithmstore", json=_body(world, collaboration_id=collab))
    assert again.status_code == 400 and "all collaborations" in again.json()["msg"]
    listed = root.ok("GET", "/algorithmstore", params={"collaboration_id": collab})["data"]
    assert [s["id"] for s in listed] == [store["id"]]
    # the store answers with the algorithms; our server is whitelisted there
    deleted = root.ok(
        "DELETE", f"/algorithmstore/{store['id']}", params={"server_url": world.server.api_url}
    )
    assert "deleted" in deleted["msg"]
    assert root.get(f"/algorithmstore/{store['id']}").status_code == 404
