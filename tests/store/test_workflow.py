"""The review workflow on a real store and a real server of ours (SQLite)."""

from __future__ import annotations

from tests.store.digests import by_name
from tests.store.world import World, algorithm_body, assign, submit


def _status(world: World, algorithm_id: int) -> str:
    return world.as_("root").ok("GET", f"/algorithm/{algorithm_id}")["status"]


def _approve_all(world: World, algorithm_id: int) -> None:
    reviews = world.as_("root").ok("GET", "/review", params={"algorithm_id": algorithm_id})
    by_id = {v: k for k, v in world.store_ids.items()}
    for review in reviews["data"]:
        who = by_id[review["reviewer"]["id"]]
        world.as_(who).ok("POST", f"/review/{review['id']}/approve", json={"comment": "fine"})


def test_submission_keeps_metadata_and_digest(world: World) -> None:
    algo = submit(world, image="example/meta:2.0")
    assert algo["status"] == "awaiting reviewer assignment"
    assert algo["digest"] == by_name("example/meta:2.0")
    assert algo["developer_id"] == world.store_ids["dev"]
    central = algo["functions"][0]
    assert central["type"] == "central" and central["databases"][0]["name"] == "default"
    rounding = central["arguments"][1]
    assert rounding["default_value"] == "2" and rounding["has_default_value"] is True
    assert [v["value"] for v in rounding["allowed_values"]] == [0, 1, 2, 3]
    assert central["arguments"][2]["conditional_on_id"] == rounding["id"]
    assert central["ui_visualizations"][0]["schema"] == {"location": [], "columns": []}
    assert algo["functions"][1]["type"] == "federated"


def test_pinned_digest_is_kept_and_unresolvable_image_has_none(world: World) -> None:
    pin = "sha256:" + "ab" * 32
    assert submit(world, image=f"example/pinned:1@{pin}")["digest"] == pin
    assert submit(world, image="unknown/thing:1")["digest"] is None


def test_bad_metadata_is_a_400(world: World) -> None:
    dev = world.as_("dev")
    bad_type = algorithm_body()
    bad_type["functions"][0]["type"] = "sideways"
    wrong_default = algorithm_body()
    wrong_default["functions"][0]["arguments"][1]["default_value"] = "two"
    dangling = algorithm_body()
    dangling["functions"][0]["arguments"][2]["conditional_on"] = "nothing"
    for body in (bad_type, wrong_default, dangling, {"name": "x"}, [1, 2]):
        response = dev.post("/algorithm", json=body)
        assert response.status_code == 400, response.text


def test_review_starts_with_enough_reviewers_from_enough_organizations(world: World) -> None:
    algo = submit(world, image="example/orgs:1")
    assert assign(world, algo["id"], "rev_b1").status_code == 201
    assert _status(world, algo["id"]) == "awaiting reviewer assignment"
    # two reviewers, but both of organization B: min_reviewing_organizations (2) not met
    assert assign(world, algo["id"], "rev_b2").status_code == 201
    assert _status(world, algo["id"]) == "awaiting reviewer assignment"
    assert assign(world, algo["id"], "rev_c").status_code == 201
    assert _status(world, algo["id"]) == "under review"


def test_developer_never_assigns_reviewers_to_own_algorithm(world: World) -> None:
    algo = submit(world, image="example/own-assign:1")
    response = assign(world, algo["id"], "rev_b1", by="dev")
    assert response.status_code == 400, response.text
    assert "own algorithm" in response.json()["msg"]


def test_developer_never_reviews_own_algorithm(world: World) -> None:
    algo = submit(world, image="example/own-review:1")
    response = assign(world, algo["id"], "dev")
    assert response.status_code == 400, response.text
    assert "developer" in response.json()["msg"]


def test_only_users_with_review_rights_review(world: World) -> None:
    algo = submit(world, image="example/norights:1")
    response = assign(world, algo["id"], "nobody")
    assert response.status_code == 400 and "permission to review" in response.json()["msg"]


def test_approval_lists_by_status_and_records_every_transition(world: World) -> None:
    algo = submit(world, image="example/approve:1")
    root = world.as_("root")
    awaiting = root.ok("GET", "/algorithm", params={"awaiting_reviewer_assignment": True})
    assert algo["id"] in [a["id"] for a in awaiting["data"]]
    for reviewer in ("rev_b1", "rev_c"):
        assert assign(world, algo["id"], reviewer).status_code == 201
    under = root.ok("GET", "/algorithm", params={"under_review": "True"})
    assert algo["id"] in [a["id"] for a in under["data"]]
    # a reviewer approves only their own review
    review_ids = [
        r["id"] for r in root.ok("GET", "/review", params={"algorithm_id": algo["id"]})["data"]
    ]
    assert world.as_("rev_b2").post(f"/review/{review_ids[0]}/approve", json={}).status_code == 403
    _approve_all(world, algo["id"])
    assert _status(world, algo["id"]) == "approved"
    approved = root.ok("GET", "/algorithm", params={"per_page": 100})
    assert algo["id"] in [a["id"] for a in approved["data"]]
    history = root.ok("GET", f"/algorithm/{algo['id']}/history")["data"]
    steps = [(h["from_status"], h["to_status"], h["username"]) for h in history]
    port = world.store.port
    assert steps == [
        (None, "awaiting reviewer assignment", f"dev{port}"),
        ("awaiting reviewer assignment", "under review", f"manager{port}"),
        ("under review", "approved", f"rev_c{port}"),
    ] or steps == [
        (None, "awaiting reviewer assignment", f"dev{port}"),
        ("awaiting reviewer assignment", "under review", f"manager{port}"),
        ("under review", "approved", f"rev_b1{port}"),
    ]
    assert all(h["at"] for h in history)


def test_rejection_drops_the_other_reviews(world: World) -> None:
    algo = submit(world, image="example/reject:1")
    for reviewer in ("rev_b1", "rev_c"):
        assign(world, algo["id"], reviewer)
    reviews = world.as_("root").ok("GET", "/review", params={"algorithm_id": algo["id"]})["data"]
    first = next(r for r in reviews if r["reviewer"]["id"] == world.store_ids["rev_b1"])
    world.as_("rev_b1").ok("POST", f"/review/{first['id']}/reject", json={"comment": "no"})
    assert _status(world, algo["id"]) == "rejected"
    after = world.as_("root").ok("GET", "/review", params={"algorithm_id": algo["id"]})["data"]
    assert sorted(r["status"] for r in after) == ["dropped", "rejected"]


def test_newer_approved_version_replaces_the_old(world: World) -> None:
    ids = []
    for _ in range(2):
        algo = submit(world, image="example/versioned:1")
        for reviewer in ("rev_b1", "rev_c"):
            assign(world, algo["id"], reviewer)
        _approve_all(world, algo["id"])
        ids.append(algo["id"])
    assert _status(world, ids[0]) == "replaced"
    assert _status(world, ids[1]) == "approved"


def test_edit_before_review_and_not_after_approval(world: World) -> None:
    algo = submit(world, image="example/edit:1")
    dev = world.as_("dev")
    edited = dev.ok("PATCH", f"/algorithm/{algo['id']}", json={"image": "example/edit:2"})
    assert edited["image"] == "example/edit:2" and edited["digest"] == by_name("example/edit:2")
    for reviewer in ("rev_b1", "rev_c"):
        assign(world, algo["id"], reviewer)
    _approve_all(world, algo["id"])
    assert dev.patch(f"/algorithm/{algo['id']}", json={"name": "x"}).status_code == 403
