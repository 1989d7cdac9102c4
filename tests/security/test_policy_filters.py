"""Issue 8 item 11: list filters do not reveal what the caller may not see.

``GET /rule?user_id=`` and ``GET /role?user_id=`` showed the rules and roles of users of
unrelated organizations; ``?role_id=`` likewise told the rules of other organizations' roles.
"""

from __future__ import annotations

from tests.security.policy_fixtures import world  # noqa: F401 - fixture
from tests.server.world import World


def _ids(api, path: str, **params) -> set[int]:
    return {i["id"] for i in api.ok("GET", path, params={**params, "per_page": 100})["data"]}


def test_rules_and_roles_of_an_unrelated_user_stay_hidden(world: World) -> None:  # noqa: F811
    viewer = world.apis["A-Viewer"]
    stranger = world.id("user:C-Researcher")  # organization C shares no collaboration with A
    assert _ids(world.root, "/rule", user_id=stranger), "root sees the stranger's rules"
    assert _ids(viewer, "/rule", user_id=stranger) == set()
    assert _ids(viewer, "/role", user_id=stranger) == set()
    # a user of the caller's own organization can be looked up
    colleague = world.id("user:A-Researcher")
    assert _ids(viewer, "/rule", user_id=colleague) == _ids(world.root, "/rule", user_id=colleague)
    assert _ids(viewer, "/role", user_id=colleague) == _ids(world.root, "/role", user_id=colleague)


def test_rules_of_a_foreign_role_stay_hidden(world: World) -> None:  # noqa: F811
    viewer = world.apis["A-Viewer"]
    rules = world.root.ok("GET", "/rule", params={"per_page": 2})["data"]
    world.root.ok("PATCH", f"/role/{world.id('role:C')}", json={"rules": [r["id"] for r in rules]})
    assert _ids(world.root, "/rule", role_id=world.id("role:C"))
    assert _ids(viewer, "/rule", role_id=world.id("role:C")) == set()
    # default roles are public
    default = world.root.ok("GET", "/role", params={"name": "Viewer"})["data"][0]["id"]
    assert _ids(viewer, "/rule", role_id=default) == _ids(world.root, "/rule", role_id=default)


def test_members_of_a_foreign_collaboration_stay_hidden(world: World) -> None:  # noqa: F811
    """A Collaboration Admin sees every organization, but not who is in collaboration Y."""
    admin = world.apis["A-Collaboration Admin"]
    y = world.id("col:Y")
    assert _ids(world.root, "/organization", collaboration_id=y)
    assert _ids(admin, "/organization", collaboration_id=y) == set()
    x = world.id("col:X")
    assert _ids(admin, "/organization", collaboration_id=x) == {
        world.id("org:A"),
        world.id("org:B"),
    }
    # nor which of its visible nodes take part in a study of Y
    assert _ids(world.root, "/node", study_id=world.id("study:sY"))
    assert _ids(world.apis["A-Viewer"], "/node", study_id=world.id("study:sY")) == set()
