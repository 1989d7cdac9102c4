"""Issue 8 item 2: a Collaboration Admin cannot change who is in its collaboration.

Adding an organization to one's collaboration would bring that organization's users, nodes,
key and task input into the admin's collaboration scope. vantage6 4.14 requires the global
collaboration edit rule for ``PATCH /collaboration/{id}`` with ``organization_ids``; this
server asks the same for every membership change and for moving another organization's node.
"""

from __future__ import annotations

from tests.api import Api
from tests.security.policy_fixtures import world  # noqa: F401 - fixture
from tests.server.world import World

CA = "A-Collaboration Admin"


def _members(w: World, collab: str) -> set[int]:
    got = w.root.ok("GET", "/organization", params={"collaboration_id": w.id(collab)})
    return {o["id"] for o in got["data"]}


def test_collaboration_admin_cannot_pull_in_an_organization(world: World) -> None:  # noqa: F811
    admin: Api = world.apis[CA]
    x, c = world.id("col:X"), world.id("org:C")
    before = _members(world, "col:X")
    patched = admin.patch(f"/collaboration/{x}", json={"organization_ids": sorted(before | {c})})
    assert patched.status_code == 403, patched.text
    added = admin.post(f"/collaboration/{x}/organization", json={"id": c})
    assert added.status_code == 403, added.text
    assert _members(world, "col:X") == before
    # so organization C's users stay out of reach: no e-mail change for account takeover
    victim = world.id("user:C-Researcher")
    hijack = admin.patch(f"/user/{victim}", json={"email": "attacker@evil.example"})
    assert hijack.status_code == 403
    assert world.root.ok("GET", f"/user/{victim}")["email"] != "attacker@evil.example"
    # nor can C be given a node in X
    node = admin.post("/node", json={"collaboration_id": x, "organization_id": c})
    assert node.status_code in (400, 403) and "api_key" not in node.text


def test_collaboration_admin_cannot_drop_an_organization(world: World) -> None:  # noqa: F811
    admin: Api = world.apis[CA]
    x, b = world.id("col:X"), world.id("org:B")
    before = _members(world, "col:X")
    assert (
        admin.patch(
            f"/collaboration/{x}", json={"organization_ids": [world.id("org:A")]}
        ).status_code
        == 403
    )
    assert admin.delete(f"/collaboration/{x}/organization", json={"id": b}).status_code == 403
    assert _members(world, "col:X") == before
    # an unchanged member list is not a membership change
    same = admin.patch(f"/collaboration/{x}", json={"organization_ids": sorted(before)})
    assert same.status_code == 200, same.text


def test_collaboration_admin_cannot_take_a_node_of_another_collaboration(
    world: World,  # noqa: F811
) -> None:
    """Node BY (organization B, collaboration Y) moved into X would leave Y."""
    admin: Api = world.apis[CA]
    x, by = world.id("col:X"), world.id("node:BY")
    # B has a node in X already; a second collaboration without one makes the move possible
    z = world.root.ok(
        "POST",
        "/collaboration",
        json={
            "name": "Collab Z (membership test)",
            "encrypted": False,
            "organization_ids": [world.id("org:A"), world.id("org:B")],
        },
    )["id"]
    moved = admin.post(f"/collaboration/{z}/node", json={"id": by})
    assert moved.status_code == 403, moved.text
    assert world.root.ok("GET", f"/node/{by}")["collaboration"]["id"] == world.id("col:Y")
    assert admin.post(f"/collaboration/{x}/node", json={"id": by}).status_code in (400, 403)


def test_collaboration_admin_cannot_replace_another_organizations_key(
    world: World,  # noqa: F811
) -> None:
    """The key of B decides who reads the input sent to B: only B (or a global admin) sets it."""
    import base64

    admin: Api = world.apis[CA]
    b = world.id("org:B")
    fake = base64.b64encode(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    resp = admin.patch(f"/organization/{b}", json={"public_key": fake.decode()})
    assert resp.status_code == 403, resp.text
    assert world.root.ok("GET", f"/organization/{b}").get("public_key") != fake.decode()
    # other fields of a collaboration member stay editable, as in vantage6
    assert admin.patch(f"/organization/{b}", json={"zipcode": "9999"}).status_code == 200
