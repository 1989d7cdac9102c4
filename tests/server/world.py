"""A small federation built through the API for authorization tests.

Organizations A, B, C; collaborations X = {A, B} and Y = {B, C}. One user in A per default
role, researchers in B and C, a node per (organization, collaboration), tasks, studies and a
custom role per organization. Everything is addressed by a short name.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

from tests.api import Api

PASSWORD = "Matrix-Pass-1!"
ROLES = ["Viewer", "Researcher", "Organization Admin", "Collaboration Admin", "Root"]


def plain_input(payload: dict) -> str:
    return base64.b64encode(json.dumps(payload).encode()).decode()


@dataclass
class World:
    root: Api
    ids: dict[str, int] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    apis: dict[str, Api] = field(default_factory=dict)

    def id(self, name: str) -> int:
        return self.ids[name]

    def names(self, prefix: str, ids: set[int]) -> set[str]:
        """Translate ids back to names among objects whose name starts with ``prefix``."""
        return {n for n, i in self.ids.items() if n.startswith(prefix) and i in ids}


def build_world(api_url: str, root: Api) -> World:
    w = World(root=root)
    roles = {r["name"]: r["id"] for r in root.ok("GET", "/role", params={"per_page": 100})["data"]}
    w.ids["org:R"] = root.ok("GET", "/organization", params={"name": "root"})["data"][0]["id"]
    w.ids["user:root"] = root.ok("GET", "/user", params={"username": "root"})["data"][0]["id"]
    for org in "ABC":
        w.ids[f"org:{org}"] = root.ok("POST", "/organization", json={"name": f"Org {org}"})["id"]
    for collab, members in (("X", "AB"), ("Y", "BC")):
        body = {
            "name": f"Collab {collab}",
            "encrypted": False,
            "organization_ids": [w.ids[f"org:{m}"] for m in members],
        }
        w.ids[f"col:{collab}"] = root.ok("POST", "/collaboration", json=body)["id"]
        for m in members:
            node = root.ok(
                "POST",
                "/node",
                json={
                    "collaboration_id": w.ids[f"col:{collab}"],
                    "organization_id": w.ids[f"org:{m}"],
                },
            )
            w.ids[f"node:{m}{collab}"] = node["id"]
            w.keys[f"node:{m}{collab}"] = node["api_key"]
    users = [(f"A-{role}", "A", role) for role in ROLES] + [
        ("B-Researcher", "B", "Researcher"),
        ("C-Researcher", "C", "Researcher"),
    ]
    for username, org, role in users:
        slug = username.replace(" ", "_")
        created = root.ok(
            "POST",
            "/user",
            json={
                "username": slug,
                "email": f"{slug.lower()}@example.org",
                "password": PASSWORD,
                "organization_id": w.ids[f"org:{org}"],
                "roles": [roles[role]],
            },
        )
        w.ids[f"user:{username}"] = created["id"]
        w.apis[username] = Api.as_user(api_url, slug, PASSWORD)
    for org in "ABC":
        w.ids[f"role:{org}"] = root.ok(
            "POST",
            "/role",
            json={"name": f"Role {org}", "rules": [], "organization_id": w.ids[f"org:{org}"]},
        )["id"]
    for name, collab, orgs in (("sX_A", "X", "A"), ("sX_B", "X", "B"), ("sY", "Y", "BC")):
        w.ids[f"study:{name}"] = root.ok(
            "POST",
            "/study",
            json={
                "name": f"Study {name}",
                "collaboration_id": w.ids[f"col:{collab}"],
                "organization_ids": [w.ids[f"org:{o}"] for o in orgs],
            },
        )["id"]
    for name, author, collab, orgs in (
        ("tX_A", "A-Researcher", "X", "AB"),
        ("tX_B", "B-Researcher", "X", "AB"),
        ("tY_C", "C-Researcher", "Y", "BC"),
    ):
        task = w.apis[author].ok(
            "POST",
            "/task",
            json={
                "name": name,
                "image": "demo",
                "collaboration_id": w.ids[f"col:{collab}"],
                "organizations": [
                    {"id": w.ids[f"org:{o}"], "input": plain_input({"method": "x"})} for o in orgs
                ],
                "databases": [{"label": "default"}],
            },
        )
        w.ids[f"task:{name}"] = task["id"]
    return w
