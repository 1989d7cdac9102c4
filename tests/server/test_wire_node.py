"""Shapes the published vantage6-node 4.14 reads from the server (docs/design/wire-facts-node.md).

Fast checks with a plain HTTP and Socket.IO client; tests/mixed runs the published node itself.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import queue
import secrets
import time

import jwt
import pytest
import socketio

from tests.api import Api
from tests.livestack import LiveServer, start_server

NAMESPACE = "/tasks"


@pytest.fixture(scope="module")
def fed(live_server: LiveServer, root_api: Api) -> dict:
    """Two organizations in two collaborations, a node each, and a task for organization 0."""
    tag = secrets.token_hex(3)
    orgs = [root_api.ok("POST", "/organization", json={"name": f"W{tag}{i}"})["id"] for i in (0, 1)]
    # root's organization takes part too: only members create tasks
    members = [*orgs, root_api.ok("POST", "/token/user/validate")["organization_id"]]
    collabs = [
        root_api.ok(
            "POST",
            "/collaboration",
            json={"name": f"wire-{tag}-{i}", "organization_ids": members, "encrypted": False},
        )["id"]
        for i in (0, 1)
    ]
    nodes = {
        (c, o): root_api.ok("POST", "/node", json={"collaboration_id": c, "organization_id": o})
        for c in collabs
        for o in orgs
    }
    task = root_api.ok(
        "POST",
        "/task",
        json={
            "name": "wire",
            "image": "some/image",
            "collaboration_id": collabs[0],
            "organizations": [{"id": orgs[0], "input": base64.b64encode(b"{}").decode()}],
            "databases": [{"label": "default", "query": "SELECT 1", "sheet_name": "S"}],
        },
    )
    node = Api.as_node(live_server.api_url, nodes[(collabs[0], orgs[0])]["api_key"])
    return {"orgs": orgs, "collabs": collabs, "nodes": nodes, "task": task, "node": node}


def test_runs_and_results_say_blob_storage_is_not_used(fed: dict, root_api: Api) -> None:
    node, task = fed["node"], fed["task"]
    node_id = fed["nodes"][(fed["collabs"][0], fed["orgs"][0])]["id"]
    # what the node asks for on new_task and sync
    page = node.ok(
        "GET",
        "/run",
        params={"state": "open", "node_id": node_id, "include": "task", "task_id": task["id"]},
    )
    (run,) = page["data"]
    assert run["blob_storage_used"] is False
    assert "cleanup_at" in run
    # the node json.loads each database's parameters
    (database,) = run["task"]["databases"]
    assert database["label"] == "default"
    assert isinstance(database["parameters"], str)
    assert json.loads(database["parameters"]) == {"query": "SELECT 1", "sheet_name": "S"}
    assert node.ok("GET", f"/run/{run['id']}")["blob_storage_used"] is False
    # what the node's proxy reads for its algorithms
    (result,) = node.ok("GET", "/result", params={"task_id": task["id"]})["data"]
    assert result["blob_storage_used"] is False
    assert node.ok("GET", f"/result/{run['id']}")["blob_storage_used"] is False
    # a task without database parameters: "{}" (vantage6 sends the same)
    bare = root_api.ok(
        "POST",
        "/task",
        json={
            "name": "bare",
            "image": "some/image",
            "collaboration_id": fed["collabs"][0],
            "organizations": [{"id": fed["orgs"][0], "input": base64.b64encode(b"{}").decode()}],
            "databases": [{"label": "default"}],
        },
    )
    assert root_api.ok("GET", f"/task/{bare['id']}")["databases"] == [
        {"label": "default", "parameters": "{}"}
    ]


def test_delete_port_answers_the_runs_node(fed: dict, live_server: LiveServer) -> None:
    """The node deletes a run's VPN ports after every run; without VPN there are none."""
    node, task = fed["node"], fed["task"]
    (run,) = node.ok("GET", "/run", params={"task_id": task["id"]})["data"]
    assert node.delete("/port", params={"run_id": run["id"]}).status_code == 200
    assert node.delete("/port").status_code == 400
    assert node.delete("/port", params={"run_id": 2**31 - 2}).status_code == 404
    other_org = fed["nodes"][(fed["collabs"][0], fed["orgs"][1])]["api_key"]
    other_collab = fed["nodes"][(fed["collabs"][1], fed["orgs"][0])]["api_key"]
    for key in (other_org, other_collab):
        other = Api.as_node(live_server.api_url, key)
        assert other.delete("/port", params={"run_id": run["id"]}).status_code == 403


class Recorder:
    """A Socket.IO client that records every event with the arguments it came with."""

    EVENTS = ("sync", "expired_token", "invalid_token", "new_task")

    def __init__(self) -> None:
        self.events: queue.Queue = queue.Queue()
        self.disconnected = False
        self.sio = socketio.Client(reconnection=False)
        for name in self.EVENTS:
            self.sio.on(name, self._record(name), namespace=NAMESPACE)
        self.sio.on("disconnect", self._on_disconnect, namespace=NAMESPACE)

    def _record(self, name: str):
        return lambda *args: self.events.put((name, args))

    def _on_disconnect(self, *args) -> None:
        self.disconnected = True

    def connect(self, server: LiveServer, token: str) -> None:
        self.sio.connect(
            server.url,
            namespaces=[NAMESPACE],
            headers={"Authorization": f"Bearer {token}"},
            wait_timeout=10,
        )

    def wait(self, name: str, timeout: float = 10) -> tuple:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {name} event"
            try:
                event, args = self.events.get(timeout=remaining)
            except queue.Empty:
                continue
            if event == name:
                return args

    def close(self) -> None:
        self.sio.disconnect()


def test_sync_comes_without_data(fed: dict, live_server: LiveServer) -> None:
    """The 4.x node's ``on_sync(self)`` takes no argument."""
    recorder = Recorder()
    try:
        recorder.connect(live_server, fed["node"].token)
        assert recorder.wait("sync") == ()
    finally:
        recorder.close()


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory) -> LiveServer:
    """A server with a known JWT secret, so a test can make a token that has expired."""
    folder = tmp_path_factory.mktemp("keyed")
    config = folder / "server.yaml"
    config.write_text(f"jwt_secret: {secrets.token_hex(32)}\n")
    server, cleanup = start_server("sqlite", config_file=config)
    server.jwt_secret = config.read_text().split(": ", 1)[1].strip()
    yield server
    cleanup()


def _expired(server: LiveServer, sub: int, client_type: str, secret: str | None = None) -> str:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    claims = {
        "sub": sub,
        "client_type": client_type,
        "type": "access",
        "iat": past,
        "nbf": past,
        "exp": past + dt.timedelta(minutes=5),
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, secret or server.jwt_secret, algorithm="HS256")


def test_expired_node_token_gets_the_event_and_a_held_connection(keyed_server: LiveServer):
    """``expired_token`` without data; the connection is accepted (a 4.x node's socket client
    keeps reconnecting until it is) but joins no room, and the server closes it soon."""
    root = Api.as_user(keyed_server.api_url, keyed_server.root_username, keyed_server.root_password)
    org = root.ok("POST", "/organization", json={"name": f"K{secrets.token_hex(3)}"})["id"]
    own = root.ok("POST", "/token/user/validate")["organization_id"]  # only members create tasks
    collab = root.ok(
        "POST",
        "/collaboration",
        json={
            "name": f"k-{secrets.token_hex(3)}",
            "organization_ids": [org, own],
            "encrypted": False,
        },
    )["id"]
    node = root.ok("POST", "/node", json={"collaboration_id": collab, "organization_id": org})
    recorder = Recorder()
    try:
        recorder.connect(keyed_server, _expired(keyed_server, node["id"], "node"))
        assert recorder.wait("expired_token") == ()
        # held: no identity, so no room, no sync, no task events, and the node stays offline
        root.ok(
            "POST",
            "/task",
            json={
                "name": "while expired",
                "image": "some/image",
                "collaboration_id": collab,
                "organizations": [{"id": org, "input": base64.b64encode(b"{}").decode()}],
            },
        )
        assert root.ok("GET", f"/node/{node['id']}")["status"] != "online"
        deadline = time.monotonic() + 30
        while not recorder.disconnected:
            assert time.monotonic() < deadline, "the server did not close the held connection"
            time.sleep(0.1)
        seen = []
        while not recorder.events.empty():
            seen.append(recorder.events.get()[0])
        assert "sync" not in seen and "new_task" not in seen
    finally:
        recorder.close()


@pytest.mark.parametrize("kind", ["user-expired", "forged"])
def test_other_bad_tokens_are_refused(keyed_server: LiveServer, kind: str):
    """A user's expired token, or a token with a wrong signature: the event (without data),
    and the connection is refused."""
    if kind == "user-expired":
        token, event = _expired(keyed_server, 1, "user"), "expired_token"
    else:
        token, event = _expired(keyed_server, 1, "node", secret="x" * 32), "invalid_token"
    recorder = Recorder()
    with pytest.raises(socketio.exceptions.ConnectionError):
        recorder.connect(keyed_server, token)
    assert recorder.wait(event) == ()
