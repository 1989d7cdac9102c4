"""Every default role against every resource and operation, with an independent expectation table.

Users of organization A hold one default role each. Organization C and collaboration Y are
outside A's reach: nothing of theirs may be visible except where a global rule says so.
"""

from __future__ import annotations

import itertools

import pytest

from tests.api import Api
from tests.server.world import ROLES, World, build_world, plain_input

A_USERS = {f"user:A-{r}" for r in ROLES} | {"user:A-Plain"}
ALL_ORGS = {"org:R", "org:A", "org:B", "org:C"}
ALL_USERS = A_USERS | {"user:B-Researcher", "user:C-Researcher", "user:root"}
ALL_NODES = {"node:AX", "node:BX", "node:BY", "node:CY"}
ALL_TASKS = {"task:tX_A", "task:tX_B", "task:tY_C"}
ALL_STUDIES = {"study:sX_A", "study:sX_B", "study:sY"}

_VIEWER = {
    "organization": {"org:A", "org:B"},
    "collaboration": {"col:X"},
    "node": {"node:AX", "node:BX"},
    "user": A_USERS,
    "role": {"role:A"},
    "task": {"task:tX_A", "task:tX_B"},
    "run": {"task:tX_A", "task:tX_B"},
    "study": {"study:sX_A"},
}
VIEW_EXPECTED = {
    "Viewer": _VIEWER,
    "Researcher": _VIEWER,
    "Organization Admin": _VIEWER,
    "Collaboration Admin": {
        **_VIEWER,
        "organization": ALL_ORGS,
        "user": A_USERS | {"user:B-Researcher"},
        "role": {"role:A", "role:B"},
        "study": {"study:sX_A", "study:sX_B"},
    },
    "Root": {
        "organization": ALL_ORGS,
        "collaboration": {"col:X", "col:Y"},
        "node": ALL_NODES,
        "user": ALL_USERS,
        "role": {"role:A", "role:B", "role:C"},
        "task": ALL_TASKS,
        "run": ALL_TASKS,
        "study": ALL_STUDIES,
    },
}
PREFIX = {
    "organization": "org:",
    "collaboration": "col:",
    "node": "node:",
    "user": "user:",
    "role": "role:",
    "task": "task:",
    "run": "task:",
    "study": "study:",
}

V, R, OA, CA, ROOT = ROLES
EVERYONE = set(ROLES)


@pytest.fixture(scope="module")
def world(live_server, root_api) -> World:
    w = build_world(live_server.api_url, root_api)
    # a user of A without roles: every admin of A holds all its (no) rules
    w.ids["user:A-Plain"] = root_api.ok(
        "POST",
        "/user",
        json={
            "username": "A-Plain",
            "email": "a-plain@example.org",
            "password": "Aa-123456!",
            "organization_id": w.id("org:A"),
        },
    )["id"]
    return w


def all_pages(api: Api, path: str, **params) -> list[dict]:
    items, page = [], 1
    while True:
        body = api.ok("GET", path, params={**params, "page": page, "per_page": 7})
        items += body["data"]
        if "next" not in body["links"]:
            return items
        page += 1


@pytest.mark.parametrize("role,resource", list(itertools.product(ROLES, PREFIX)))
def test_lists_show_exactly_the_scope(world: World, role: str, resource: str) -> None:
    api = world.apis[f"A-{role}"]
    items = all_pages(api, f"/{resource}")
    if resource == "run":
        seen = world.names("task:", {r["task"]["id"] for r in items})
    elif resource == "role":
        seen = world.names("role:", {r["id"] for r in items if r["organization"]})
        defaults = {r["name"] for r in items if r["organization"] is None}
        assert defaults == {
            "Root",
            "Viewer",
            "Researcher",
            "Organization Admin",
            "Collaboration Admin",
        }
    else:
        seen = world.names(PREFIX[resource], {i["id"] for i in items})
    assert seen == VIEW_EXPECTED[role][resource]


@pytest.mark.parametrize("role,resource", list(itertools.product(ROLES, PREFIX)))
def test_single_views_agree_with_lists(world: World, role: str, resource: str) -> None:
    api = world.apis[f"A-{role}"]
    for name, id_ in world.ids.items():
        if resource == "run" or not name.startswith(PREFIX[resource]):
            continue
        if resource == "user" and name == f"user:A-{role}":
            continue  # everyone sees themselves
        status = api.get(f"/{resource}/{id_}").status_code
        expected = 200 if name in VIEW_EXPECTED[role][resource] else 403
        assert status == expected, f"{role} GET {resource} {name}: {status}"


def _actions(w: World, role: str):
    """(label, method, path, json, roles allowed) for one actor."""
    slug = role.replace(" ", "_")
    org, col, node, user = (
        (lambda n: w.id(f"org:{n}")),
        (lambda n: w.id(f"col:{n}")),
        (lambda n: w.id(f"node:{n}")),
        (lambda n: w.id(f"user:{n}")),
    )
    task_body = lambda c, orgs: {  # noqa: E731
        "image": "demo",
        "collaboration_id": col(c),
        "name": f"t-{slug}",
        "organizations": [{"id": org(o), "input": plain_input({"method": "m"})} for o in orgs],
    }
    return [
        ("edit own org", "PATCH", f"/organization/{org('A')}", {"zipcode": "1"}, {OA, CA, ROOT}),
        ("edit collab org", "PATCH", f"/organization/{org('B')}", {"zipcode": "2"}, {CA, ROOT}),
        ("edit foreign org", "PATCH", f"/organization/{org('C')}", {"zipcode": "3"}, {ROOT}),
        ("create org", "POST", "/organization", {"name": f"new-{slug}"}, {ROOT}),
        (
            "edit own collab",
            "PATCH",
            f"/collaboration/{col('X')}",
            {"encrypted": False},
            {CA, ROOT},
        ),
        (
            "edit foreign collab",
            "PATCH",
            f"/collaboration/{col('Y')}",
            {"encrypted": False},
            {ROOT},
        ),
        (
            "create collab",
            "POST",
            "/collaboration",
            {"name": f"c-{slug}", "organization_ids": [org("A")]},
            {ROOT},
        ),
        ("edit own node", "PATCH", f"/node/{node('AX')}", {"ip": "10.0.0.1"}, {OA, CA, ROOT}),
        ("edit collab node", "PATCH", f"/node/{node('BX')}", {"ip": "10.0.0.2"}, {ROOT}),
        ("edit foreign node", "PATCH", f"/node/{node('CY')}", {"ip": "10.0.0.3"}, {ROOT}),
        (
            "create user in own org",
            "POST",
            "/user",
            {
                "username": f"a-{slug}",
                "email": f"a-{slug}@x.org",
                "password": "Aa-123456!",
                "organization_id": org("A"),
            },
            {OA, CA, ROOT},
        ),
        (
            "create user in collab org",
            "POST",
            "/user",
            {
                "username": f"b-{slug}",
                "email": f"b-{slug}@x.org",
                "password": "Aa-123456!",
                "organization_id": org("B"),
            },
            {CA, ROOT},
        ),
        (
            "create user in foreign org",
            "POST",
            "/user",
            {
                "username": f"c-{slug}",
                "email": f"c-{slug}@x.org",
                "password": "Aa-123456!",
                "organization_id": org("C"),
            },
            {ROOT},
        ),
        ("edit self", "PATCH", f"/user/{user('A-' + role)}", {"lastname": "Self"}, EVERYONE),
        (
            "edit user in own org",
            "PATCH",
            f"/user/{user('A-Plain')}",
            {"lastname": "x"},
            {OA, CA, ROOT},
        ),
        # the escalation guard: not a user holding rules the editor lacks
        (
            "edit stronger user in own org",
            "PATCH",
            f"/user/{user('A-Root')}",
            {"lastname": "x"},
            {ROOT},
        ),
        # nobody renames another user (as in vantage6)
        (
            "rename user in own org",
            "PATCH",
            f"/user/{user('A-Plain')}",
            {"username": f"plain-{slug}"},
            set(),
        ),
        (
            "edit user in collab org",
            "PATCH",
            f"/user/{user('B-Researcher')}",
            {"lastname": "y"},
            {CA, ROOT},
        ),
        (
            "edit user in foreign org",
            "PATCH",
            f"/user/{user('C-Researcher')}",
            {"lastname": "z"},
            {ROOT},
        ),
        (
            "create role in own org",
            "POST",
            "/role",
            {"name": f"r-{slug}", "rules": [], "organization_id": org("A")},
            {OA, CA, ROOT},
        ),
        (
            "create role in collab org",
            "POST",
            "/role",
            {"name": f"r-{slug}", "rules": [], "organization_id": org("B")},
            {ROOT},
        ),
        ("create task in own collab", "POST", "/task", task_body("X", "AB"), {R, CA, ROOT}),
        # only member organizations start tasks (root's is not in Y: as in vantage6 4.14)
        ("create task in foreign collab", "POST", "/task", task_body("Y", "BC"), set()),
        (
            "create study in own collab",
            "POST",
            "/study",
            {"name": f"s-{slug}", "collaboration_id": col("X"), "organization_ids": [org("A")]},
            {CA, ROOT},
        ),
        (
            "create study in foreign collab",
            "POST",
            "/study",
            {"name": f"sy-{slug}", "collaboration_id": col("Y"), "organization_ids": [org("C")]},
            {ROOT},
        ),
        ("delete task of collab org", "DELETE", f"/task/{w.id('task:tX_B')}", None, {ROOT}),
        ("kill task of collab org", "POST", "/kill/task", {"id": w.id("task:tX_B")}, {CA, ROOT}),
    ]


ACTION_LABELS = (
    "edit own org",
    "edit collab org",
    "edit foreign org",
    "create org",
    "edit own collab",
    "edit foreign collab",
    "create collab",
    "edit own node",
    "edit collab node",
    "edit foreign node",
    "create user in own org",
    "create user in collab org",
    "create user in foreign org",
    "edit self",
    "edit user in own org",
    "edit stronger user in own org",
    "rename user in own org",
    "edit user in collab org",
    "edit user in foreign org",
    "create role in own org",
    "create role in collab org",
    "create task in own collab",
    "create task in foreign collab",
    "create study in own collab",
    "create study in foreign collab",
)
DESTRUCTIVE = ("delete task of collab org", "kill task of collab org")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("label", ACTION_LABELS)
def test_operations_follow_the_rules(world: World, role: str, label: str) -> None:
    assert {a[0] for a in _actions(world, role)} == set(ACTION_LABELS) | set(DESTRUCTIVE)
    api = world.apis[f"A-{role}"]
    _, method, path, body, allowed = next(a for a in _actions(world, role) if a[0] == label)
    resp = api.request(method, path, json=body)
    if role in allowed:
        assert resp.status_code < 300, f"{role} {label}: {resp.status_code} {resp.text}"
    else:
        assert resp.status_code == 403, f"{role} {label}: {resp.status_code} {resp.text}"


@pytest.mark.parametrize("role", ROLES)
def test_destructive_operations(world: World, role: str, root_api: Api) -> None:
    """Kill and delete a fresh task of organization B in collaboration X."""
    b_api = world.apis["B-Researcher"]
    api = world.apis[f"A-{role}"]
    for label in DESTRUCTIVE:
        task = b_api.ok(
            "POST",
            "/task",
            json={
                "image": "demo",
                "collaboration_id": world.id("col:X"),
                "name": "victim",
                "organizations": [{"id": world.id("org:B"), "input": plain_input({"m": 1})}],
            },
        )
        world.ids["task:tX_B"] = task["id"]
        _, method, path, body, allowed = next(a for a in _actions(world, role) if a[0] == label)
        resp = api.request(method, path, json=body)
        expected_ok = role in allowed
        assert (resp.status_code < 300) == expected_ok, f"{role} {label}: {resp.text}"
        if not expected_ok:
            assert resp.status_code == 403
            assert root_api.ok("GET", f"/task/{task['id']}")["status"] == "pending"


# Who is in a collaboration (and which nodes serve it): changing it is reserved to global
# collaboration editors, except moving one's own node, or removing a node, by a
# collaboration admin of that collaboration.
MEMBERSHIP = {
    "add organization by PATCH": {ROOT},
    "remove organization by PATCH": {ROOT},
    "add organization": {ROOT},
    "remove organization": {ROOT},
    "attach own organization's node": {CA, ROOT},
    "attach another organization's node": {ROOT},
    "detach own organization's node": {CA, ROOT},
    "detach another organization's node": {CA, ROOT},
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("label", MEMBERSHIP)
def test_membership_changes_follow_the_rules(world: World, role: str, label: str) -> None:
    """Fresh collaborations for each case: M = {A, B} with a node each, N = {A, B} without."""
    root, api = world.root, world.apis[f"A-{role}"]
    a, b, c = (world.id(f"org:{o}") for o in "ABC")
    tag = f"{role}-{label}".replace(" ", "_").replace("'", "")

    def collab(name: str, orgs: list[int]) -> int:
        body = {"name": f"{name}-{tag}", "encrypted": False, "organization_ids": orgs}
        return root.ok("POST", "/collaboration", json=body)["id"]

    def node(collab_id: int, org: int) -> int:
        body = {"collaboration_id": collab_id, "organization_id": org}
        return root.ok("POST", "/node", json=body)["id"]

    def members(collab_id: int) -> set[int]:
        params = {"collaboration_id": collab_id, "per_page": 100}
        return {o["id"] for o in root.ok("GET", "/organization", params=params)["data"]}

    m_col = collab("M", [a, b])
    m_nodes = {org: node(m_col, org) for org in (a, b)}
    n_col = collab("N", [a, b])
    if label == "add organization by PATCH":
        resp = api.patch(f"/collaboration/{m_col}", json={"organization_ids": [a, b, c]})
        changed = c in members(m_col)
    elif label == "remove organization by PATCH":
        resp = api.patch(f"/collaboration/{m_col}", json={"organization_ids": [a]})
        changed = b not in members(m_col)
    elif label == "add organization":
        resp = api.post(f"/collaboration/{m_col}/organization", json={"id": c})
        changed = c in members(m_col)
    elif label == "remove organization":
        resp = api.delete(f"/collaboration/{m_col}/organization", json={"id": b})
        changed = b not in members(m_col)
    elif label.startswith("attach"):
        org = a if "own" in label else b
        moving = node(collab("P", [org]), org)
        resp = api.post(f"/collaboration/{n_col}/node", json={"id": moving})
        changed = root.ok("GET", f"/node/{moving}")["collaboration"]["id"] == n_col
    else:
        victim = m_nodes[a if "own" in label else b]
        resp = api.delete(f"/collaboration/{m_col}/node", json={"id": victim})
        changed = root.get(f"/node/{victim}").status_code == 404
    allowed = role in MEMBERSHIP[label]
    expected = "< 300" if allowed else "403"
    assert resp.status_code < 300 if allowed else resp.status_code == 403, (
        f"{role} {label}: {resp.status_code} (expected {expected}) {resp.text}"
    )
    assert changed == allowed, f"{role} {label}: state changed={changed}"


def test_escalation_guard(world: World) -> None:
    roles = {
        r["name"]: r["id"] for r in world.root.ok("GET", "/role", params={"per_page": 50})["data"]
    }
    body = lambda name, role: {  # noqa: E731
        "username": name,
        "email": f"{name}@x.org",
        "password": "Aa-123456!",
        "organization_id": world.id("org:A"),
        "roles": [roles[role]],
    }
    org_admin = world.apis["A-Organization Admin"]
    assert org_admin.post("/user", json=body("esc1", "Root")).status_code == 403
    assert org_admin.post("/user", json=body("esc2", "Collaboration Admin")).status_code == 403
    assert org_admin.post("/user", json=body("ok1", "Organization Admin")).status_code == 201
    col_admin = world.apis["A-Collaboration Admin"]
    assert col_admin.post("/user", json=body("esc3", "Root")).status_code == 403
    own = world.id("user:A-Viewer")
    assert org_admin.patch(f"/user/{own}", json={"roles": [roles["Root"]]}).status_code == 403
    viewer = world.apis["A-Viewer"]
    assert viewer.patch(f"/user/{own}", json={"roles": [roles["Root"]]}).status_code in (400, 403)
    # a role with a rule the creator lacks
    rule_ids = [
        r["id"]
        for r in world.root.ok(
            "GET", "/rule", params={"name": "organization", "scope": "glo", "operation": "d"}
        )["data"]
    ]
    assert org_admin.post("/role", json={"name": "esc", "rules": rule_ids}).status_code == 403
    assert org_admin.get(f"/user/{own}").json()["id"] == own


def test_nodes_see_only_their_collaboration(world: World, live_server) -> None:
    node_ax = Api.as_node(live_server.api_url, world.keys["node:AX"])
    runs = all_pages(node_ax, "/run", state="open", node_id=world.id("node:AX"))
    assert runs and all(r["organization"]["id"] == world.id("org:A") for r in runs)
    tasks = {t["id"] for t in all_pages(node_ax, "/task")}
    assert world.id("task:tY_C") not in tasks
    assert node_ax.get(f"/task/{world.id('task:tY_C')}").status_code == 403
    assert node_ax.get(f"/node/{world.id('node:CY')}").status_code == 403
    # a node may not report on another organization's run, nor create tasks
    other_run = next(
        r
        for r in all_pages(world.root, "/run", task_id=world.id("task:tX_A"))
        if r["organization"]["id"] == world.id("org:B")
    )
    assert node_ax.patch(f"/run/{other_run['id']}", json={"status": "active"}).status_code == 403
    assert (
        node_ax.post(
            "/task",
            json={
                "image": "demo",
                "collaboration_id": world.id("col:X"),
                "organizations": [{"id": world.id("org:A"), "input": plain_input({})}],
            },
        ).status_code
        == 403
    )
    assert node_ax.get("/user").status_code == 403
