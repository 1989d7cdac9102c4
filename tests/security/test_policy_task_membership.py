"""Issue 8 item 15: only organizations of a collaboration start tasks in it.

vantage6 4.14 refuses a task from a user whose organization is not a member of the
collaboration, root included; this server created it.
"""

from __future__ import annotations

from tests.security.policy_fixtures import role_ids, task_body, world  # noqa: F401
from tests.server.world import PASSWORD, World


def test_root_outside_the_collaboration_cannot_create_a_task(world: World) -> None:  # noqa: F811
    before = world.root.ok("GET", "/task", params={"collaboration_id": world.id("col:Y")})
    resp = world.root.post("/task", json=task_body(world, "Y", "BC"))
    assert resp.status_code == 403, resp.text
    after = world.root.ok("GET", "/task", params={"collaboration_id": world.id("col:Y")})
    assert after["data"] == before["data"]


def test_global_task_creator_outside_the_collaboration_is_refused(
    world: World,  # noqa: F811
    live_server,
) -> None:
    """A custom role with the global create rule: still only in the user's collaborations."""
    from tests.api import Api

    rules = world.root.ok(
        "GET", "/rule", params={"name": "task", "scope": "glo", "operation": "c"}
    )["data"]
    role = world.root.ok(
        "POST",
        "/role",
        json={
            "name": "Global task creator",
            "rules": [r["id"] for r in rules],
            "organization_id": world.id("org:A"),
        },
    )["id"]
    world.root.ok(
        "POST",
        "/user",
        json={
            "username": "global_creator",
            "email": "global_creator@example.org",
            "password": PASSWORD,
            "organization_id": world.id("org:A"),
            "roles": [role, role_ids(world.root)["Viewer"]],
        },
    )
    creator = Api.as_user(live_server.api_url, "global_creator", PASSWORD)
    assert creator.post("/task", json=task_body(world, "Y", "BC")).status_code == 403
    assert creator.post("/task", json=task_body(world, "X", "AB")).status_code == 201
