"""Our server pins a store task's image to the digest the store approved (vantage6 4.14).

A real server and a real store on loopback; the store's digests come from the test resolver
(``tests.store.digests``), its algorithms are visible to whitelisted servers' users only, so a
lookup without the user's token would be refused.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.api import Api
from tests.livestore import start_store
from tests.published import run_published_scenario
from tests.store.digests import UNKNOWN_PREFIX, by_name
from tests.store.world import World, approve, store_config, submit

SCENARIO = Path(__file__).parent / "published" / "pinned_task.py"


@dataclass
class Setup:
    world: World
    root: Api
    collaboration_id: int
    organization_id: int
    store_id: int


@pytest.fixture(scope="module")
def setup(world: World) -> Setup:
    root = world.server_apis["root"]
    org = root.ok("GET", "/organization", params={"name": "root"})["data"][0]["id"]
    collab = root.ok(
        "POST",
        "/collaboration",
        json={
            "name": f"pinning-{secrets.token_hex(3)}",
            "encrypted": False,
            "organization_ids": [org],
        },
    )["id"]
    body = {
        "algorithm_store_url": world.store.url,
        "name": "pinning",
        "collaboration_id": collab,
        "server_url": world.server.api_url,
        "force": True,
    }
    store = root.ok("POST", "/algorithmstore", json=body)["id"]
    return Setup(world, root, collab, org, store)


def _task(setup: Setup, image: str, store_id: int | None = None, **extra):
    body = {
        "collaboration_id": setup.collaboration_id,
        "organizations": [{"id": setup.organization_id, "input": ""}],
        "image": image,
        "store_id": setup.store_id if store_id is None else store_id,
        **extra,
    }
    return setup.root.post("/task", json=body)


def _image() -> str:
    return f"registry.example.org/algos/pin-{secrets.token_hex(4)}:1.0"


def _tasks_with(setup: Setup, image: str) -> list[dict]:
    prefix = image.partition("@")[0]
    return setup.root.ok("GET", "/task", params={"image": f"{prefix}%"})["data"]


def test_a_store_task_runs_the_approved_digest(setup: Setup) -> None:
    image = _image()
    digest = approve(setup.world, image, f"pin-{secrets.token_hex(3)}")["digest"]
    assert digest == by_name(image)
    # the store shows its algorithms to whitelisted servers' users: the lookup carries the
    # user's token (and this server's address), or it would be refused
    created = _task(setup, image)
    assert created.status_code == 201, created.text
    task = created.json()
    assert task["image"] == f"{image}@{digest}"
    assert task["algorithm_store"]["id"] == setup.store_id
    # naming the approved digest itself is the same task
    again = _task(setup, f"{image}@{digest}")
    assert again.status_code == 201 and again.json()["image"] == f"{image}@{digest}"


def test_an_approved_image_without_a_digest_drops_the_store(setup: Setup) -> None:
    """As vantage6 4.14: nothing could be pinned, so the task does not claim the store."""
    image = f"{UNKNOWN_PREFIX}pin-{secrets.token_hex(4)}:1.0"  # the resolver finds no digest
    assert approve(setup.world, image, f"pin-{secrets.token_hex(3)}")["digest"] is None
    created = _task(setup, image)
    assert created.status_code == 201, created.text
    assert created.json()["image"] == image and created.json()["algorithm_store"] is None


def test_an_image_the_store_did_not_approve_is_refused(setup: Setup) -> None:
    unreviewed = _image()
    submit(setup.world, image=unreviewed, name="never reviewed")
    refused = _task(setup, unreviewed)
    assert refused.status_code == 400, refused.text
    assert "not found in store" in refused.json()["msg"] and unreviewed in refused.json()["msg"]
    assert _tasks_with(setup, unreviewed) == []
    # approved, but the task names another digest (a moved tag, pinned)
    image = _image()
    digest = approve(setup.world, image, f"pin-{secrets.token_hex(3)}")["digest"]
    other = "sha256:" + "0" * 64
    wrong = _task(setup, f"{image}@{other}")
    assert wrong.status_code == 400, wrong.text
    assert other in wrong.json()["msg"] and digest in wrong.json()["msg"]
    assert _tasks_with(setup, image) == []


def test_hostile_server_urls_are_refused_before_the_store_is_asked(setup: Setup) -> None:
    image = _image()
    approve(setup.world, image, f"pin-{secrets.token_hex(3)}")
    for bad in ("http://\u00e9x/api", "http://a\nb/api", "ftp://x/api", "x" * 600):
        refused = _task(setup, image, server_url=bad)
        assert refused.status_code == 400, (bad, refused.text)
    assert _tasks_with(setup, image) == []


def test_a_store_of_another_collaboration_is_refused(setup: Setup) -> None:
    root = setup.root
    other = root.ok(
        "POST",
        "/collaboration",
        json={
            "name": f"other-{secrets.token_hex(3)}",
            "encrypted": False,
            "organization_ids": [setup.organization_id],
        },
    )["id"]
    body = {
        "algorithm_store_url": f"http://localhost:{setup.world.store.port}",
        "name": "elsewhere",
        "collaboration_id": other,
        "server_url": setup.world.server.api_url,
        "force": True,
    }
    elsewhere = root.ok("POST", "/algorithmstore", json=body)["id"]
    image = _image()
    approve(setup.world, image, f"pin-{secrets.token_hex(3)}")
    refused = _task(setup, image, store_id=elsewhere)
    assert refused.status_code == 403, refused.text
    assert _task(setup, image, store_id=10**6).status_code == 404


def test_a_store_that_cannot_be_reached_creates_no_task(setup: Setup) -> None:
    """A second store, coupled while it answered, then stopped."""
    world = setup.world
    store, stop = start_store(store_config(world.server))
    try:
        body = {
            "algorithm_store_url": store.url,
            "name": "stopped later",
            "collaboration_id": setup.collaboration_id,
            "server_url": world.server.api_url,
            "force": True,
        }
        coupled = setup.root.ok("POST", "/algorithmstore", json=body)["id"]
    finally:
        stop()
    image = _image()
    refused = _task(setup, image, store_id=coupled)
    assert refused.status_code == 400, refused.text
    assert "cannot be reached" in refused.json()["msg"]
    assert _tasks_with(setup, image) == []


def test_published_client_gets_a_pinned_image(setup: Setup) -> None:
    image, unapproved = _image(), _image()
    digest = approve(setup.world, image, f"pin-{secrets.token_hex(3)}")["digest"]
    server = setup.world.server
    spec = {
        "host": "http://127.0.0.1",
        "port": server.port,
        "username": server.root_username,
        "password": server.root_password,
        "collaboration_id": setup.collaboration_id,
        "organization_id": setup.organization_id,
        "store_id": setup.store_id,
        "approved_image": image,
        "unapproved_image": unapproved,
    }
    steps = run_published_scenario(SCENARIO, [json.dumps(spec)], timeout=300)
    (task,) = [s["task"] for s in steps if "task" in s]
    assert task["image"] == f"{image}@{digest}" and task["store"] == setup.store_id
    (refused,) = [s["refused"] for s in steps if "refused" in s]
    assert "not found in store" in refused
