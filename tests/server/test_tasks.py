"""Tasks: runs per organization, status from runs, container tokens and subtasks, cascades."""

from __future__ import annotations

import base64
import json

import pytest

from tests.api import Api
from tests.livestack import LiveServer


def _b64(payload: dict) -> str:
    return base64.b64encode(json.dumps(payload).encode()).decode()


@pytest.fixture(scope="module")
def fed(live_server: LiveServer, root_api: Api) -> dict:
    """Two organizations in an unencrypted and an encrypted collaboration, with nodes.

    Root's organization is a member too: only members create tasks (as in vantage6 4.14)."""
    orgs = [root_api.ok("POST", "/organization", json={"name": f"T{i}"})["id"] for i in range(2)]
    members = [*orgs, root_api.ok("POST", "/token/user/validate")["organization_id"]]
    plain = root_api.ok(
        "POST",
        "/collaboration",
        json={"name": "tasks-plain", "organization_ids": members, "encrypted": False},
    )["id"]
    secret = root_api.ok(
        "POST",
        "/collaboration",
        json={"name": "tasks-secret", "organization_ids": members, "encrypted": True},
    )["id"]
    other = root_api.ok(
        "POST",
        "/collaboration",
        json={"name": "tasks-other", "organization_ids": members, "encrypted": False},
    )["id"]
    nodes = {}
    for org in orgs:
        created = root_api.ok(
            "POST", "/node", json={"collaboration_id": plain, "organization_id": org}
        )
        nodes[org] = Api.as_node(live_server.api_url, created["api_key"])
        nodes[org].id = created["id"]
    return {"orgs": orgs, "plain": plain, "secret": secret, "other": other, "nodes": nodes}


def _task(api: Api, fed: dict, image: str = "img:1", collab: str = "plain", **extra) -> dict:
    return api.ok(
        "POST",
        "/task",
        json={
            "image": image,
            "collaboration_id": fed[collab],
            "name": "t",
            "organizations": [{"id": o, "input": _b64({"method": "m"})} for o in fed["orgs"]],
            **extra,
        },
    )


def _runs(api: Api, task_id: int) -> list[dict]:
    return api.ok("GET", "/run", params={"task_id": task_id, "per_page": 100})["data"]


def _report(fed: dict, run: dict, **body) -> None:
    node = fed["nodes"][run["organization"]["id"]]
    node.ok("PATCH", f"/run/{run['id']}", json=body)


def test_status_follows_runs(root_api: Api, fed: dict) -> None:
    task = _task(root_api, fed)
    runs = _runs(root_api, task["id"])
    assert len(runs) == 2 and {r["status"] for r in runs} == {"pending"}
    assert root_api.ok("GET", f"/task/{task['id']}/status") == {"status": "pending"}
    _report(fed, runs[0], status="active")
    assert root_api.ok("GET", f"/task/{task['id']}/status")["status"] == "active"
    _report(fed, runs[0], status="completed", result=_b64({"x": 1}))
    assert root_api.ok("GET", f"/task/{task['id']}/status")["status"] == "pending"
    _report(fed, runs[1], status="crashed", log="boom")
    assert root_api.ok("GET", f"/task/{task['id']}/status")["status"] == "crashed"
    results = root_api.ok("GET", "/result", params={"task_id": task["id"]})["data"]
    assert _b64({"x": 1}) in [r["result"] for r in results]
    # a finished run cannot be reopened
    node = fed["nodes"][runs[0]["organization"]["id"]]
    assert node.patch(f"/run/{runs[0]['id']}", json={"status": "active"}).status_code == 400


def test_two_different_failures_make_failed(root_api: Api, fed: dict) -> None:
    task = _task(root_api, fed)
    runs = _runs(root_api, task["id"])
    _report(fed, runs[0], status="crashed")
    _report(fed, runs[1], status="not allowed")
    assert root_api.ok("GET", f"/task/{task['id']}")["status"] == "failed"


def test_container_token_and_subtasks(live_server: LiveServer, root_api: Api, fed: dict) -> None:
    task = _task(root_api, fed, image="algo:1")
    node = fed["nodes"][fed["orgs"][0]]
    assert (
        node.post("/token/container", json={"task_id": task["id"], "image": "other:1"}).status_code
        == 401
    )
    token = node.ok("POST", "/token/container", json={"task_id": task["id"], "image": "algo:1"})[
        "container_token"
    ]
    container = Api(live_server.api_url, token)
    assert container.ok("GET", f"/task/{task['id']}")["id"] == task["id"]
    # subtasks: same collaboration and image only
    child = _task(container, fed, image="algo:1")
    assert child["parent"]["id"] == task["id"] and child["job_id"] == task["job_id"]
    assert child["init_user"]["id"] == task["init_user"]["id"]
    assert (
        container.post(
            "/task",
            json={
                "image": "evil:1",
                "collaboration_id": fed["plain"],
                "organizations": [{"id": fed["orgs"][0], "input": _b64({})}],
            },
        ).status_code
        == 403
    )
    assert (
        container.post(
            "/task",
            json={
                "image": "algo:1",
                "collaboration_id": fed["other"],
                "organizations": [{"id": fed["orgs"][0], "input": _b64({})}],
            },
        ).status_code
        == 403
    )
    assert container.get("/user").status_code == 403
    # the token dies with its task
    for run in _runs(root_api, task["id"]):
        _report(fed, run, status="completed", result=_b64({}))
    assert container.get(f"/task/{task['id']}").status_code == 401
    assert (
        node.post("/token/container", json={"task_id": task["id"], "image": "algo:1"}).status_code
        == 400
    )


def test_input_encryption_sanity_check(root_api: Api, fed: dict) -> None:
    plain_in_secret = root_api.post(
        "/task",
        json={
            "image": "i",
            "collaboration_id": fed["secret"],
            "organizations": [{"id": fed["orgs"][0], "input": _b64({"method": "m"})}],
        },
    )
    assert plain_in_secret.status_code == 400
    cipher_in_plain = root_api.post(
        "/task",
        json={
            "image": "i",
            "collaboration_id": fed["plain"],
            "organizations": [{"id": fed["orgs"][0], "input": "a$b$c"}],
        },
    )
    assert cipher_in_plain.status_code == 400
    from vantage6_common.crypto import SCHEME_GCM, Cryptor, generate_private_key

    cryptor = Cryptor(generate_private_key(2048))
    for scheme in ("v6-ctr", SCHEME_GCM):
        sealed = cryptor.encrypt_bytes_to_str(b'{"method": "m"}', cryptor.public_key_str, scheme)
        accepted = root_api.post(
            "/task",
            json={
                "image": "i",
                "collaboration_id": fed["secret"],
                "organizations": [{"id": fed["orgs"][0], "input": sealed}],
            },
        )
        assert accepted.status_code == 201, (scheme, accepted.text)
        stored = root_api.ok("GET", "/run", params={"task_id": accepted.json()["id"]})
        assert stored["data"][0]["input"] == sealed
        assert cryptor.decrypt_str_to_bytes(sealed) == b'{"method": "m"}'
    outsider = root_api.ok("POST", "/organization", json={"name": "outsider"})["id"]
    not_member = root_api.post(
        "/task",
        json={
            "image": "i",
            "collaboration_id": fed["plain"],
            "organizations": [{"id": outsider, "input": _b64({})}],
        },
    )
    assert not_member.status_code == 400


def test_delete_cascades_and_kill(live_server: LiveServer, root_api: Api, fed: dict) -> None:
    task = _task(root_api, fed, image="algo:2")
    node = fed["nodes"][fed["orgs"][0]]
    token = node.ok("POST", "/token/container", json={"task_id": task["id"], "image": "algo:2"})[
        "container_token"
    ]
    child = _task(Api(live_server.api_url, token), fed, image="algo:2")
    killed = root_api.ok("POST", "/kill/task", json={"id": task["id"]})
    assert {k["task_id"] for k in killed["kill_list"]} == {task["id"], child["id"]}
    assert root_api.ok("GET", f"/task/{child['id']}")["status"] == "killed by user"
    # the node may still report the kill and its log
    run = _runs(root_api, child["id"])[0]
    _report(fed, run, status="killed by user", log="stopped")
    assert root_api.post("/kill/task", json={"id": task["id"]}).status_code == 400
    run_ids = [r["id"] for r in _runs(root_api, task["id"]) + _runs(root_api, child["id"])]
    root_api.ok("DELETE", f"/task/{task['id']}")
    assert root_api.get(f"/task/{child['id']}").status_code == 404
    for run_id in run_ids:
        assert root_api.get(f"/run/{run_id}").status_code == 404


def test_node_sync_query(root_api: Api, fed: dict) -> None:
    task = _task(root_api, fed)
    node = fed["nodes"][fed["orgs"][1]]
    open_runs = node.ok(
        "GET",
        "/run",
        params={"state": "open", "node_id": node.id, "include": "task", "per_page": 100},
    )["data"]
    mine = [r for r in open_runs if r["task"]["id"] == task["id"]]
    assert len(mine) == 1 and mine[0]["task"]["image"] == "img:1"
    assert all(r["organization"]["id"] == fed["orgs"][1] for r in open_runs)
    assert all(r["status"] in ("pending", "initializing", "active") for r in open_runs)
