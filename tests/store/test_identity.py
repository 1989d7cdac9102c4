"""Who may call the store: whitelisted servers, validated tokens, store rules, no escalation."""

from __future__ import annotations

import httpx

from tests.store.world import World


def test_calls_need_server_url_and_a_token_of_a_whitelisted_server(world: World) -> None:
    url = world.store.api_url + "/algorithm"
    server_url = world.server.api_url
    token = world.server_apis["dev"].token
    assert httpx.get(url).status_code == 400
    assert httpx.get(url, headers={"server_url": server_url}).status_code == 401
    other = {"server_url": "http://127.0.0.1:9/api", "Authorization": f"Bearer {token}"}
    assert httpx.get(url, headers=other).status_code == 403
    forged = {"server_url": server_url, "Authorization": "Bearer not-a-token"}
    assert httpx.get(url, headers=forged).status_code == 401
    # the 4.x spelling of the header works as well
    good = {"Server-Url": server_url, "Authorization": f"Bearer {token}"}
    assert httpx.get(url, headers=good).status_code == 200


def test_unregistered_user_of_whitelisted_server_sees_algorithms_not_reviews(
    world: World,
) -> None:
    root = world.server_apis["root"]
    from tests.api import Api
    from tests.security.auth_fixtures import PASSWORD, make_user
    from tests.store.world import StoreApi

    make_user(root, f"stranger{world.store.port}", org=world.org_ids["C"])
    stranger = Api.as_user(world.server.api_url, f"stranger{world.store.port}", PASSWORD)
    api = StoreApi(world.store.api_url, stranger)
    assert api.get("/algorithm").status_code == 200
    response = api.get("/review")
    assert response.status_code == 401 and "not registered" in response.json()["msg"]


def test_rules_are_checked(world: World) -> None:
    assert world.as_("nobody").post("/algorithm", json={}).status_code == 401
    assert world.as_("rev_c").get("/review").status_code == 200
    assert (
        world.as_("rev_c").post("/review", json={"algorithm_id": 1, "reviewer_id": 1}).status_code
        == 401
    )


def test_no_escalation_through_roles(world: World) -> None:
    admin = world.as_("admin")
    rules = world.as_("root").ok("GET", "/rule", params={"no_pagination": 1})["data"]
    rule_id = {(r["name"], r["operation"]): r["id"] for r in rules}
    held = [rule_id[("user", "view")], rule_id[("role", "create")]]
    created = admin.post("/role", json={"name": "helper", "description": "", "rules": held})
    assert created.status_code == 201, created.text
    beyond = [rule_id[("algorithm", "delete")]]
    assert admin.post("/role", json={"name": "too much", "rules": beyond}).status_code == 401
    role = created.json()["id"]
    assert admin.post(f"/role/{role}/rule/{beyond[0]}").status_code == 401
    assert admin.patch(f"/role/{role}", json={"rules": beyond}).status_code == 401
    assert admin.patch(f"/role/{world.role_id('Viewer')}", json={"name": "x"}).status_code == 400


def test_no_escalation_through_user_roles(world: World) -> None:
    admin = world.as_("admin")
    nobody = world.store_ids["nobody"]
    root_role = world.role_id("Root")
    assert admin.patch(f"/user/{nobody}", json={"roles": [root_role]}).status_code == 401
    viewer = world.role_id("Viewer")
    assert admin.ok("PATCH", f"/user/{nobody}", json={"roles": [viewer]})["id"] == nobody
    assert world.as_("nobody").get("/review").status_code == 200
    # and nobody changes their own roles
    own = world.store_ids["admin"]
    assert admin.patch(f"/user/{own}", json={"roles": [root_role]}).status_code == 401
    admin.ok("PATCH", f"/user/{nobody}", json={"roles": []})


def test_registering_needs_a_user_of_the_server(world: World) -> None:
    admin = world.as_("admin")
    response = admin.post("/user", json={"username": "does-not-exist", "roles": []})
    assert response.status_code == 400
    again = admin.post("/user", json={"username": f"dev{world.store.port}", "roles": []})
    assert again.status_code == 400 and "already" in again.json()["msg"]


def test_whitelisting_a_server(world: World) -> None:
    dev = world.as_("dev")
    body = {"url": world.server.api_url}
    assert dev.post("/vantage6-server", json=body).status_code == 400  # loopback needs force
    again = dev.post("/vantage6-server", json={**body, "force": True})
    assert again.status_code == 208
    forged = httpx.post(
        world.store.api_url + "/vantage6-server",
        json={**body, "force": True},
        headers={"Authorization": "Bearer forged"},
    )
    assert forged.status_code == 403
    bad_host = dev.post("/vantage6-server", json={"url": "https://" + "0" * 300, "force": True})
    assert bad_host.status_code == 502, bad_host.text
    servers = dev.ok("GET", "/vantage6-server")
    assert [s["url"] for s in servers] == [world.server.api_url]


def test_policies_are_readable(world: World) -> None:
    public = httpx.get(world.store.api_url + "/policy/public").json()
    assert public == {"algorithm_view": "whitelisted", "allowed_servers": "all"}
    private = world.as_("nobody").ok("GET", "/policy")
    assert private["min_reviewers"] == 2 and private["min_reviewing_organizations"] == 2
    assert private["assign_review_own_algorithm"] is False
