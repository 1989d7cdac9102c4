"""Issue 8 item 10: Socket.IO follows the same policy as the REST API.

A deleted user's open connection is closed (it kept receiving the events of its
collaborations), and a node relays status and log events only for runs of its own
organization in its own collaboration.
"""

from __future__ import annotations

import pytest

from tests.api import Api
from tests.security.policy_fixtures import task_body, wait_until, world  # noqa: F401
from tests.server.test_events import Listener
from tests.server.world import PASSWORD, World


def _new_user(w: World, live_server, name: str) -> Api:
    roles = {r["name"]: r["id"] for r in w.root.ok("GET", "/role")["data"]}
    created = w.root.ok(
        "POST",
        "/user",
        json={
            "username": name,
            "email": f"{name}@example.org",
            "password": PASSWORD,
            "organization_id": w.id("org:A"),
            "roles": [roles["Viewer"]],
        },
    )
    api = Api.as_user(live_server.api_url, name, PASSWORD)
    api.user_id = created["id"]
    return api


def test_deleted_user_is_disconnected(world: World, live_server) -> None:  # noqa: F811
    doomed = _new_user(world, live_server, "doomed_viewer")
    listener = Listener(live_server, doomed.token)
    try:
        assert listener.sio.connected
        world.root.ok("DELETE", f"/user/{doomed.user_id}")
        assert wait_until(lambda: not listener.sio.connected), "socket still open after delete"
        task = world.apis["A-Researcher"].ok("POST", "/task", json=task_body(world, "X", "A"))
        with pytest.raises(AssertionError):
            listener.wait("new_task", timeout=1.0, match=lambda d: d["id"] == task["id"])
    finally:
        listener.close()


def _foreign_run(w: World) -> dict:
    """A run of organization B in collaboration X (task tX_A involves A and B)."""
    runs = w.root.ok("GET", "/run", params={"task_id": w.id("task:tX_A")})["data"]
    return next(r for r in runs if r["organization"]["id"] == w.id("org:B"))


def _own_run(w: World) -> dict:
    task = w.apis["A-Researcher"].ok("POST", "/task", json=task_body(w, "X", "A"))
    return w.root.ok("GET", "/run", params={"task_id": task["id"]})["data"][0]


def test_node_cannot_relay_events_of_another_organizations_run(
    world: World,  # noqa: F811
    live_server,
) -> None:
    node = Api.as_node(live_server.api_url, world.keys["node:AX"])
    node_socket = Listener(live_server, node.token)
    watcher = Listener(live_server, world.root.token)
    try:
        node_socket.wait("sync")
        foreign, own = _foreign_run(world), _own_run(world)
        forged = {"status": "completed", "run_id": foreign["id"], "task_id": foreign["task"]["id"]}
        node_socket.sio.emit("algorithm_status_change", forged, namespace="/tasks")
        node_socket.sio.emit(
            "algorithm_log",
            {"run_id": foreign["id"], "task_id": foreign["task"]["id"], "log": "forged"},
            namespace="/tasks",
        )
        # the node's own run: relayed (a marker that the forged events were handled before)
        marker = {"status": "active", "run_id": own["id"], "task_id": own["task"]["id"]}
        node_socket.sio.emit("algorithm_status_change", marker, namespace="/tasks")
        node_socket.sio.emit(
            "algorithm_log", {"run_id": own["id"], "log": "mine"}, namespace="/tasks"
        )
        seen = []
        watcher.wait(
            "algorithm_log",
            timeout=10,
            match=lambda d: seen.append(d) or d.get("run_id") == own["id"],
        )
        with pytest.raises(AssertionError):
            watcher.wait(
                "algorithm_status_change",
                timeout=1.5,
                match=lambda d: d.get("run_id") == foreign["id"],
            )
        assert all(d.get("run_id") != foreign["id"] for d in seen)
    finally:
        node_socket.close()
        watcher.close()


def test_relayed_status_carries_the_runs_own_task(world: World, live_server) -> None:  # noqa: F811
    """Task, job and parent ids of a relayed status come from the run, not from the node."""
    node = Api.as_node(live_server.api_url, world.keys["node:AX"])
    node_socket = Listener(live_server, node.token)
    watcher = Listener(live_server, world.root.token)
    try:
        node_socket.wait("sync")
        own = _own_run(world)
        lie = {"status": "active", "run_id": own["id"], "task_id": world.id("task:tY_C")}
        node_socket.sio.emit("algorithm_status_change", lie, namespace="/tasks")
        got = watcher.wait(
            "algorithm_status_change", timeout=10, match=lambda d: d.get("run_id") == own["id"]
        )
        assert got["task_id"] == own["task"]["id"]
    finally:
        node_socket.close()
        watcher.close()
