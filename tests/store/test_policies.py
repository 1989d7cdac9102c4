"""Policies that an administrator sets in the store's config (the store restarts with them)."""

from __future__ import annotations

import httpx
import pytest

from tests.store.world import World, assign, make_world, store_config, submit


@pytest.fixture(scope="module")
def world(live_server) -> World:
    created, cleanup = make_world(live_server)
    yield created
    cleanup()


def _restart(world: World, **policies) -> None:
    world.store.restart(store_config(world.server, **policies))


def _listed(world: World, *names: str) -> list[dict]:
    return [{"username": f"{n}{world.store.port}", "server": world.server.api_url} for n in names]


def test_only_listed_reviewers_review(world: World) -> None:
    _restart(world, allowed_reviewers=_listed(world, "rev_b1"))
    algo = submit(world, image="example/listed-reviewers:1")
    refused = assign(world, algo["id"], "rev_c")
    assert refused.status_code == 400 and "not allowed to review" in refused.json()["msg"]
    assert assign(world, algo["id"], "rev_b1").status_code == 201


def test_only_listed_assigners_assign(world: World) -> None:
    _restart(world, allowed_review_assigners=_listed(world, "manager"))
    algo = submit(world, who="root", image="example/listed-assigners:1")
    refused = assign(world, algo["id"], "rev_c", by="dev")
    assert refused.status_code == 401 and "assign reviews" in refused.json()["msg"]
    assert assign(world, algo["id"], "rev_b1", by="manager").status_code == 201


def test_developer_may_assign_when_the_policy_allows_it(world: World) -> None:
    _restart(world, assign_review_own_algorithm=True)
    algo = submit(world, image="example/own-allowed:1")
    assert assign(world, algo["id"], "rev_b1", by="dev").status_code == 201
    # reviewing one's own algorithm stays forbidden
    assert assign(world, algo["id"], "dev", by="manager").status_code == 400


def test_min_reviewers_policy(world: World) -> None:
    _restart(world, min_reviewers=1, min_reviewing_organizations=1)
    algo = submit(world, image="example/one-reviewer:1")
    assert assign(world, algo["id"], "rev_b1").status_code == 201
    status = world.as_("root").ok("GET", f"/algorithm/{algo['id']}")["status"]
    assert status == "under review"


def test_public_visibility(world: World) -> None:
    _restart(world, algorithm_view="public")
    url = world.store.api_url + "/algorithm"
    assert httpx.get(url).status_code == 200
    # algorithms still in review are never public
    assert httpx.get(url, params={"in_review_process": "true"}).status_code == 400


def test_private_visibility(world: World) -> None:
    _restart(world, algorithm_view="private")
    assert world.as_("nobody").get("/algorithm").status_code == 401
    assert world.as_("rev_c").get("/algorithm").status_code == 200
    assert httpx.get(world.store.api_url + "/algorithm").status_code == 400


def test_whitelisted_visibility(world: World) -> None:
    _restart(world, algorithm_view="whitelisted")
    assert world.as_("nobody").get("/algorithm").status_code == 200
    assert httpx.get(world.store.api_url + "/algorithm").status_code == 400


def test_min_reviewers_counts_reviewers_not_organizations(world: World) -> None:
    _restart(world, min_reviewers=3, min_reviewing_organizations=2)
    algo = submit(world, image="example/three-reviewers:1")
    for reviewer in ("rev_b1", "rev_c"):
        assert assign(world, algo["id"], reviewer).status_code == 201
    root = world.as_("root")
    assert root.ok("GET", f"/algorithm/{algo['id']}")["status"] == "awaiting reviewer assignment"
    assert assign(world, algo["id"], "rev_b2").status_code == 201
    assert root.ok("GET", f"/algorithm/{algo['id']}")["status"] == "under review"
