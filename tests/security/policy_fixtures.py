"""Fixtures of the authorization-policy tests: a federation with a user of each default role.

Organizations A, B, C (and root's R); collaborations X = {A, B} and Y = {B, C}; a node per
(organization, collaboration). See ``tests/server/world.py``. Import the fixtures into a test
module (``from tests.security.policy_fixtures import world``) to use them.
"""

from __future__ import annotations

import time

import pytest

from tests.api import Api
from tests.server.world import World, build_world, plain_input


@pytest.fixture(scope="module")
def world(live_server, root_api: Api) -> World:
    return build_world(live_server.api_url, root_api)


def role_ids(api: Api) -> dict[str, int]:
    return {r["name"]: r["id"] for r in api.ok("GET", "/role", params={"per_page": 100})["data"]}


def task_body(w: World, collab: str, orgs: str, **extra) -> dict:
    return {
        "image": "demo",
        "collaboration_id": w.id(f"col:{collab}"),
        "organizations": [
            {"id": w.id(f"org:{o}"), "input": plain_input({"method": "m"})} for o in orgs
        ],
        **extra,
    }


def wait_until(condition, timeout: float = 10.0, interval: float = 0.05) -> bool:
    """Poll ``condition`` until it is true or the deadline passes; returns the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
