"""``allowed_algorithm_stores`` for real: our server, our store (digests from a real registry),
a real ``docker-registry`` on loopback and a node running podman.

The server pins a store task to the digest the store approved (vantage6 4.14) and refuses
an unapproved image or a store of another collaboration at creation; the node runs an image
only when a trusted store coupled to the task's collaboration approved it, by that digest: a
tag moved after approval runs what was approved, a pin to the moved content is refused.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import pytest

from tests.livestack import free_port
from tests.node.conftest import make_datasets
from tests.node.harness import BASE_IMAGE, DEMO_IMAGE, Federation, podman
from tests.registry import LocalRegistry
from tests.store.world import World, assign, make_world, submit

pytestmark = [pytest.mark.containers, pytest.mark.timeout(900)]


@dataclass
class StorePath:
    fed: Federation
    world: World
    registry: LocalRegistry
    trusted: int  # store id: allowed and coupled to the collaboration
    untrusted: int  # the same store under an address the node does not allow
    elsewhere: int  # an allowed store coupled to another collaboration only

    def approve(self, image: str) -> dict:
        """Submit ``image`` to the store and have two reviewers of two organizations approve."""
        algo = submit(self.world, image=image, name=f"algo-{secrets.token_hex(3)}")
        for reviewer in ("rev_b1", "rev_c"):
            assert assign(self.world, algo["id"], reviewer).status_code == 201
        reviews = self.world.as_("root").ok("GET", "/review", params={"algorithm_id": algo["id"]})
        by_id = {v: k for k, v in self.world.store_ids.items()}
        for review in reviews["data"]:
            who = by_id[review["reviewer"]["id"]]
            self.world.as_(who).ok("POST", f"/review/{review['id']}/approve", json={})
        approved = self.world.as_("root").ok("GET", f"/algorithm/{algo['id']}")
        assert approved["status"] == "approved", approved
        return approved

    def run(self, image: str, store_id: int | None) -> dict:
        """One run of the demo's partial summary with ``image``; the settled run."""
        station = self.fed.stations[0]
        task = self.fed.create_task(
            {"method": "summary_partial", "kwargs": {}},
            [station.org_id],
            image=image,
            store_id=store_id,
        )
        (run,) = self.fed.wait_runs_settled(task["id"], timeout=300)
        return run

    def refused(self, image: str, store_id: int | None) -> dict:
        """Creating the task fails; the server's answer (status and message)."""
        station = self.fed.stations[0]
        body = {
            "image": image,
            "collaboration_id": self.fed.collaboration_id,
            "organizations": [{"id": station.org_id, "input": ""}],
            "store_id": store_id,
        }
        answer = self.fed.researcher.post("/task", json=body)
        assert answer.status_code in (400, 403), answer.text
        return {"status": answer.status_code, "msg": answer.json()["msg"]}


def _couple(world: World, url: str, collaboration_id: int, name: str) -> int:
    body = {
        "algorithm_store_url": url,
        "name": name,
        "collaboration_id": collaboration_id,
        "server_url": world.server.api_url,
        "force": True,
    }
    return world.server_apis["root"].ok("POST", "/algorithmstore", json=body)["id"]


@pytest.fixture(scope="module")
def path(podman_images, local_registry, live_server, root_api, tmp_path_factory):
    world, cleanup = make_world(live_server, resolver="registry", algorithm_view="public")
    registries_conf = str(local_registry.registries_conf())
    fed = Federation(
        live_server,
        root_api,
        tmp_path_factory.mktemp("store-images"),
        make_datasets(1),
        extra_config={
            "policies": {"allowed_algorithm_stores": [world.store.url]},
            "runtime_options": {"env": {"CONTAINERS_REGISTRIES_CONF": registries_conf}},
        },
    )
    other = root_api.ok(
        "POST",
        "/collaboration",
        json={
            "name": f"other-{fed.tag}",
            "encrypted": False,
            "organization_ids": [fed.stations[0].org_id],
        },
    )["id"]
    result = StorePath(
        fed=fed,
        world=world,
        registry=local_registry,
        trusted=_couple(world, world.store.url, fed.collaboration_id, "trusted"),
        untrusted=_couple(
            world, f"http://localhost:{world.store.port}", fed.collaboration_id, "untrusted"
        ),
        elsewhere=_couple(world, world.store.url, other, "elsewhere"),
    )
    fed.start()
    yield result
    fed.stop()
    cleanup()


def _not_allowed(run: dict, *words: str) -> None:
    assert run["status"] == "not allowed", run
    for word in words:
        assert word in (run["log"] or ""), run["log"]


def test_runs_the_approved_digest(path: StorePath) -> None:
    repo = f"algos/demo-{secrets.token_hex(3)}"
    digest = path.registry.push(DEMO_IMAGE, repo, "1.0")
    image = path.registry.image(repo, "1.0")
    assert path.approve(image)["digest"] == digest  # the store recorded the registry's digest
    run = path.run(image, path.trusted)
    assert run["status"] == "completed", (run, path.fed.logs())
    # pulled and run by digest: the node's podman knows the image by the approved digest
    pinned = f"{path.registry.host}/{repo}@{digest}"
    assert podman("image", "exists", pinned, check=False).returncode == 0
    assert f"runs as {pinned}" in path.fed.stations[0].log_tail(200_000)


def test_refuses_an_unapproved_image(path: StorePath) -> None:
    repo = f"algos/unreviewed-{secrets.token_hex(3)}"
    path.registry.push(DEMO_IMAGE, repo, "1.0")
    image = path.registry.image(repo, "1.0")
    submit(path.world, image=image, name="unreviewed")  # submitted, never reviewed
    refused = path.refused(image, path.trusted)
    assert refused["status"] == 400 and "not found in store" in refused["msg"], refused


def test_refuses_stores_it_does_not_trust_or_that_are_not_coupled(path: StorePath) -> None:
    repo = f"algos/trust-{secrets.token_hex(3)}"
    path.registry.push(DEMO_IMAGE, repo, "1.0")
    image = path.registry.image(repo, "1.0")
    path.approve(image)
    _not_allowed(path.run(image, path.untrusted), "not in allowed_algorithm_stores")
    assert path.refused(image, path.elsewhere)["status"] == 403  # the server checks coupling
    _not_allowed(path.run(image, None), "names no algorithm store")


def test_moved_tag_is_refused_and_the_approved_digest_still_runs(path: StorePath) -> None:
    repo = f"algos/moving-{secrets.token_hex(3)}"
    approved = path.registry.push(DEMO_IMAGE, repo, "1.0")
    image = path.registry.image(repo, "1.0")
    path.approve(image)
    # someone pushes other content under the approved tag (the base image has no algorithm)
    moved = path.registry.push(BASE_IMAGE, repo, "1.0")
    assert moved != approved and path.registry.digest(repo, "1.0") == moved
    # the server asks the store and pins the task to the approved digest: what was reviewed runs
    run = path.run(image, path.trusted)
    assert run["status"] == "completed", (run, path.fed.logs())
    task = path.fed.researcher.ok("GET", f"/task/{run['task']['id']}")
    assert task["image"] == f"{image}@{approved}"
    # a task pinned to the moved content is refused at creation
    refused = path.refused(f"{image}@{moved}", path.trusted)
    assert refused["status"] == 400 and approved in refused["msg"], refused


def test_unreachable_registry_fails_the_run_with_its_reason(path: StorePath) -> None:
    gone = f"127.0.0.1:{free_port()}/algos/gone:1.0"
    digest = "sha256:" + "ab" * 32
    assert path.approve(f"{gone}@{digest}")["digest"] == digest  # pinned on submission
    # the server pins the task to the approved digest: the store check needs no registry,
    # the pull does
    run = path.run(gone, path.trusted)
    assert run["status"] == "non-existing Docker image", run
    assert "could not be pulled" in (run["log"] or ""), run["log"]


def test_subtasks_of_a_store_task_pass_the_store_check(path: StorePath) -> None:
    """A central function's subtasks come from the same store (the server passes it on)."""
    repo = f"algos/central-{secrets.token_hex(3)}"
    path.registry.push(DEMO_IMAGE, repo, "1.0")
    image = path.registry.image(repo, "1.0")
    path.approve(image)
    station = path.fed.stations[0]
    task = path.fed.create_task(
        {"method": "summary", "kwargs": {}}, [station.org_id], image=image, store_id=path.trusted
    )
    assert path.fed.wait_task(task["id"], timeout=300) == "completed", path.fed.logs()
    subtasks = path.fed.researcher.ok("GET", "/task", params={"parent_id": task["id"]})["data"]
    assert subtasks and all(t["algorithm_store"]["id"] == path.trusted for t in subtasks)
    parent = path.fed.researcher.ok("GET", f"/task/{task['id']}")
    assert parent["image"].startswith(f"{image}@sha256:")
    assert all(t["image"] == parent["image"] for t in subtasks)
