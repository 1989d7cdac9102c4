"""A few objects of every kind, made through the API, so generated ids hit real rows."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

from tests.api import Api

SEED_PASSWORD = "Seed-User-Pass-1!"


def plain_input(payload: dict) -> str:
    return base64.b64encode(json.dumps(payload).encode()).decode()


@dataclass
class Seeded:
    """Ids of what ``seed`` made, by kind; ``root_user``/``root_org`` are the root account's."""

    root_user: int = 0
    root_org: int = 0
    ids: dict[str, list[int]] = field(default_factory=dict)
    node_keys: list[str] = field(default_factory=list)

    def add(self, kind: str, id_: int) -> None:
        self.ids.setdefault(kind, []).append(id_)

    def first(self, kind: str) -> int:
        return self.ids[kind][0]


def seed(root: Api, tag: str = "seed") -> Seeded:
    """Two organizations, a collaboration with a node each, a study, a task, a role, a user."""
    out = Seeded()
    me = root.ok("POST", "/token/user/validate")
    out.root_user, out.root_org = me["user_id"], me["organization_id"]
    orgs = [root.ok("POST", "/organization", json={"name": f"{tag} org {i}"})["id"] for i in (1, 2)]
    for org in orgs:
        out.add("organization", org)
    collab = root.ok(
        "POST",
        "/collaboration",
        # root's organization takes part: only members create tasks (as in vantage6 4.14)
        json={
            "name": f"{tag} collab",
            "encrypted": False,
            "organization_ids": [*orgs, out.root_org],
        },
    )["id"]
    out.add("collaboration", collab)
    for org in orgs:
        node = root.ok("POST", "/node", json={"collaboration_id": collab, "organization_id": org})
        out.add("node", node["id"])
        out.node_keys.append(node["api_key"])
    study = root.ok(
        "POST",
        "/study",
        json={"name": f"{tag} study", "collaboration_id": collab, "organization_ids": orgs},
    )["id"]
    out.add("study", study)
    task = root.ok(
        "POST",
        "/task",
        json={
            "name": f"{tag} task",
            "image": "example.org/algo:1",
            "collaboration_id": collab,
            "organizations": [{"id": o, "input": plain_input({"method": "m"})} for o in orgs],
            "databases": [{"label": "default"}],
        },
    )
    out.add("task", task["id"])
    runs = root.ok("GET", "/run", params={"task_id": task["id"]})["data"]
    # the run of the first organization first: its node may report on it
    for run in sorted(runs, key=lambda r: r["organization"]["id"] != orgs[0]):
        out.add("run", run["id"])
    rules = root.ok("GET", "/rule", params={"per_page": 3})["data"]
    role = root.ok(
        "POST",
        "/role",
        json={
            "name": f"{tag} role",
            "organization_id": orgs[0],
            "rules": [r["id"] for r in rules],
        },
    )["id"]
    out.add("role", role)
    user = root.ok(
        "POST",
        "/user",
        json={
            "username": f"{tag}_user",
            "email": f"{tag}_user@example.org",
            "password": SEED_PASSWORD,
            "organization_id": orgs[0],
            "roles": [role],
        },
    )["id"]
    out.add("user", user)
    return out
