"""Our server plus a store on loopback, with users in several organizations.

Server users (all made through our server's API): ``dev``, ``manager`` and ``admin`` in
organization A, ``rev_b1`` and ``rev_b2`` in B, ``rev_c`` and ``nobody`` in C (``nobody`` is
registered in the store without roles). In the store, root registers them: dev is a
Developer and an Algorithm Manager (so the rules about one's own algorithm have something
to stop), manager an Algorithm Manager, admin a Store Manager, the reviewers Reviewers.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.api import Api
from tests.livestack import LiveServer
from tests.livestore import LiveStore, start_store
from tests.security.auth_fixtures import PASSWORD, make_user

TEST_RESOLVER = "tests.store.digests:by_name"


class StoreApi(Api):
    """Calls to the store as a user of our server (its token plus the ``server_url`` header)."""

    def __init__(self, store_api_url: str, server: Api) -> None:
        super().__init__(store_api_url, server.token)
        self.server_url = server.api_url

    def _headers(self) -> dict[str, str]:
        return {**super()._headers(), "server_url": self.server_url}


def store_config(server: LiveServer, resolver: str = TEST_RESOLVER, **policies: Any) -> dict:
    """The store config: root is our server's root; loopback servers allowed; ``resolver``
    finds digests (``registry`` asks the image's real registry)."""
    return {
        "root_user": {"v6_server_uri": server.api_url, "username": server.root_username},
        "policies": {"allow_localhost": True, **policies},
        "digest_resolver": resolver,
    }


@dataclass
class World:
    server: LiveServer
    store: LiveStore
    server_apis: dict[str, Api] = field(default_factory=dict)
    store_ids: dict[str, int] = field(default_factory=dict)
    org_ids: dict[str, int] = field(default_factory=dict)

    def as_(self, name: str) -> StoreApi:
        return StoreApi(self.store.api_url, self.server_apis[name])

    def role_id(self, name: str) -> int:
        roles = self.as_("root").ok("GET", "/role", params={"name": name})["data"]
        return roles[0]["id"]


USERS = {
    "dev": ("A", ["Developer", "Algorithm Manager"]),
    "manager": ("A", ["Algorithm Manager"]),
    "admin": ("A", ["Store Manager"]),
    "rev_b1": ("B", ["Reviewer"]),
    "rev_b2": ("B", ["Reviewer"]),
    "rev_c": ("C", ["Reviewer"]),
    "nobody": ("C", []),
}


def make_world(
    server: LiveServer, backend: str = "sqlite", resolver: str = TEST_RESOLVER, **policies: Any
):
    """Users on ``server``, a fresh store registered to it; returns (world, cleanup)."""
    root = Api.as_user(server.api_url, server.root_username, server.root_password)
    store, cleanup = start_store(store_config(server, resolver, **policies), backend)
    world = World(server=server, store=store, server_apis={"root": root})
    suffix = store.port
    for org in ("A", "B", "C"):
        world.org_ids[org] = root.ok("POST", "/organization", json={"name": f"org{org}{suffix}"})[
            "id"
        ]
    for name, (org, _roles) in USERS.items():
        username = f"{name}{suffix}"
        make_user(root, username, org=world.org_ids[org])
        world.server_apis[name] = Api.as_user(server.api_url, username, PASSWORD)
    admin = world.as_("root")
    for name, (_org, roles) in USERS.items():
        body = {"username": f"{name}{suffix}", "roles": [world.role_id(r) for r in roles]}
        world.store_ids[name] = admin.ok("POST", "/user", json=body)["id"]
    return world, cleanup


def algorithm_body(image: str = "example/average:1.0", **overrides: Any) -> dict:
    """A complete algorithm submission with every kind of metadata."""
    body = {
        "name": "average",
        "description": "mean of a column",
        "image": image,
        "partitioning": "horizontal",
        "vantage6_version": "4.14",
        "code_url": "https://github.com/example/average",
        "documentation_url": "https://example.org/average",
        "functions": [
            {
                "name": "central_average",
                "display_name": "Average",
                "type": "central",
                "standalone": True,
                "databases": [{"name": "default", "description": "the data"}],
                "arguments": [
                    {"name": "column", "type": "column", "description": "which column"},
                    {
                        "name": "rounding",
                        "type": "integer",
                        "has_default_value": True,
                        "default_value": 2,
                        "allowed_values": [0, 1, 2, 3],
                    },
                    {
                        "name": "digits",
                        "type": "integer",
                        "conditional_on": "rounding",
                        "conditional_operator": ">",
                        "conditional_value": 0,
                    },
                ],
                "ui_visualizations": [
                    {"name": "table", "type": "table", "schema": {"location": [], "columns": []}}
                ],
            },
            {"name": "partial_average", "type": "federated", "arguments": []},
        ],
    }
    body.update(overrides)
    return copy.deepcopy(body)


def submit(world: World, who: str = "dev", **overrides: Any) -> dict:
    return world.as_(who).ok("POST", "/algorithm", json=algorithm_body(**overrides))


def assign(world: World, algorithm_id: int, reviewer: str, by: str = "manager") -> httpx.Response:
    return world.as_(by).post(
        "/review", json={"algorithm_id": algorithm_id, "reviewer_id": world.store_ids[reviewer]}
    )


def approve(world: World, image: str, name: str) -> dict:
    """Submit ``image`` as ``name`` and have rev_b1 and rev_c (two organizations) approve it."""
    algo = submit(world, image=image, name=name)
    for reviewer in ("rev_b1", "rev_c"):
        assert assign(world, algo["id"], reviewer).status_code == 201
    by_id = {v: k for k, v in world.store_ids.items()}
    reviews = world.as_("root").ok("GET", "/review", params={"algorithm_id": algo["id"]})
    for review in reviews["data"]:
        world.as_(by_id[review["reviewer"]["id"]]).ok(
            "POST", f"/review/{review['id']}/approve", json={}
        )
    approved = world.as_("root").ok("GET", f"/algorithm/{algo['id']}")
    assert approved["status"] == "approved", approved
    return approved
