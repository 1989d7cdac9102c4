"""Issue 8 item 12: an admin cannot act on a user more privileged than itself.

An organization admin could rename (vantage6 refuses renaming other users), change the e-mail
of (then take over through recovery) or delete a Collaboration Admin or Root user of its own
organization. The escalation guard now covers every edit and delete of another user.
"""

from __future__ import annotations

from tests.security.policy_fixtures import world  # noqa: F401 - fixture
from tests.server.world import World

OA = "A-Organization Admin"


def test_nobody_renames_another_user(world: World) -> None:  # noqa: F811
    admin = world.apis[OA]
    for victim in ("A-Root", "A-Collaboration Admin", "A-Viewer"):
        uid = world.id(f"user:{victim}")
        before = world.root.ok("GET", f"/user/{uid}")["username"]
        resp = admin.patch(f"/user/{uid}", json={"username": f"renamed_{uid}"})
        assert resp.status_code == 403, f"{victim}: {resp.status_code} {resp.text}"
        assert world.root.ok("GET", f"/user/{uid}")["username"] == before
    # one's own username may change
    me = world.id(f"user:{OA}")
    assert admin.patch(f"/user/{me}", json={"username": "oa_renamed"}).status_code == 200


def test_admin_cannot_edit_or_delete_a_more_privileged_user(world: World) -> None:  # noqa: F811
    admin = world.apis[OA]
    for victim in ("A-Root", "A-Collaboration Admin"):
        uid = world.id(f"user:{victim}")
        email = world.root.ok("GET", f"/user/{uid}")["email"]
        resp = admin.patch(f"/user/{uid}", json={"email": f"taken_{uid}@evil.example"})
        assert resp.status_code == 403, f"{victim}: {resp.status_code} {resp.text}"
        assert world.root.ok("GET", f"/user/{uid}")["email"] == email
        assert admin.patch(f"/user/{uid}", json={"lastname": "x"}).status_code == 403
        assert admin.delete(f"/user/{uid}").status_code == 403
        assert world.root.get(f"/user/{uid}").status_code == 200
    # a user with no more rights than the admin stays manageable
    viewer = world.id("user:A-Viewer")
    assert admin.patch(f"/user/{viewer}", json={"email": "viewer2@example.org"}).status_code == 200
    # and a global admin still manages everyone
    ca = world.id("user:A-Collaboration Admin")
    assert world.root.patch(f"/user/{ca}", json={"lastname": "by root"}).status_code == 200
