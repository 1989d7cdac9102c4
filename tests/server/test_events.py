"""Socket.IO: authentication, rooms, sync on connect, task events and node online/offline."""

from __future__ import annotations

import base64
import queue
import time

import pytest
import socketio

from tests.api import Api
from tests.livestack import LiveServer


class Listener:
    """A real Socket.IO client that records every event of namespace /tasks."""

    def __init__(self, server: LiveServer, token: str, auth: dict | None = None) -> None:
        self.events: queue.Queue = queue.Queue()
        self.sio = socketio.Client(reconnection=False)
        for name in (
            "sync",
            "new_task",
            "status_update",
            "algorithm_status_change",
            "kill_containers",
            "node-online",
            "node-offline",
            "algorithm_log",
            "run_offer",
        ):
            self.sio.on(name, self._recorder(name), namespace="/tasks")
        self.sio.connect(
            server.url,
            namespaces=["/tasks"],
            socketio_path="/socket.io",
            headers={"Authorization": f"Bearer {token}"},
            auth=auth,
            wait_timeout=10,
        )

    def _recorder(self, name: str):
        return lambda data=None: self.events.put((name, data))

    def wait(self, name: str, timeout: float = 20.0, match=lambda d: True):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                event, data = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if event == name and match(data):
                return data
        raise AssertionError(f"no {name} event within {timeout}s")

    def wait_each(self, wanted: dict, timeout: float = 20.0) -> dict:
        """The first event matching each ``name: match`` of ``wanted``, in whatever order.

        The client hands each incoming message to a thread of its own, so the order in which
        two events reach this queue is not the order the server sent them in.
        """
        found: dict = {}
        deadline = time.monotonic() + timeout
        while len(found) < len(wanted) and time.monotonic() < deadline:
            try:
                event, data = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if event in wanted and event not in found and wanted[event](data):
                found[event] = data
        missing = sorted(set(wanted) - set(found))
        if missing:
            raise AssertionError(f"no {', '.join(missing)} event within {timeout}s")
        return found

    def close(self) -> None:
        self.sio.disconnect()


@pytest.fixture(scope="module")
def fed(live_server: LiveServer, root_api: Api) -> dict:
    orgs = [root_api.ok("POST", "/organization", json={"name": f"E{i}"})["id"] for i in range(2)]
    # root's organization is a member: only members create tasks (as in vantage6 4.14)
    members = [*orgs, root_api.ok("POST", "/token/user/validate")["organization_id"]]
    collab = root_api.ok(
        "POST",
        "/collaboration",
        json={"name": "events", "organization_ids": members, "encrypted": False},
    )["id"]
    other = root_api.ok(
        "POST",
        "/collaboration",
        json={"name": "events-other", "organization_ids": members, "encrypted": False},
    )["id"]
    keys = {
        org: root_api.ok("POST", "/node", json={"collaboration_id": collab, "organization_id": org})
        for org in orgs
    }
    return {"orgs": orgs, "collab": collab, "other": other, "nodes": keys}


def _token(api: Api) -> str:
    return api.token


def test_rejects_missing_or_forged_tokens(live_server: LiveServer) -> None:
    with pytest.raises(socketio.exceptions.ConnectionError):
        Listener(live_server, "not-a-jwt")
    sio = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        sio.connect(live_server.url, namespaces=["/tasks"], wait_timeout=5)


def test_node_gets_sync_and_goes_online_and_offline(
    live_server: LiveServer, root_api: Api, fed: dict
) -> None:
    node_info = fed["nodes"][fed["orgs"][0]]
    node = Api.as_node(live_server.api_url, node_info["api_key"])
    watcher = Listener(live_server, root_api.token)
    listener = Listener(live_server, node.token)
    try:
        listener.wait("sync")
        watcher.wait("node-online", match=lambda d: d["id"] == node_info["id"])
        assert root_api.ok("GET", f"/node/{node_info['id']}")["status"] == "online"
        listener.sio.emit("ping", namespace="/tasks")
        listener.close()
        watcher.wait("node-offline", match=lambda d: d["id"] == node_info["id"])
        deadline = time.monotonic() + 5
        while root_api.ok("GET", f"/node/{node_info['id']}")["status"] != "offline":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        watcher.close()


@pytest.fixture
def node_a_and_root(live_server: LiveServer, root_api: Api, fed: dict):
    """Organization A's node (REST and socket, after its sync) and a socket of root."""
    node = Api.as_node(live_server.api_url, fed["nodes"][fed["orgs"][0]]["api_key"])
    node_socket = Listener(live_server, node.token)
    user = Listener(live_server, root_api.token)
    try:
        node_socket.wait("sync")
        yield node, node_socket, user
    finally:
        node_socket.close()
        user.close()


def test_task_events_reach_collaboration_rooms_only(
    root_api: Api, fed: dict, node_a_and_root: tuple
) -> None:
    org_a = fed["orgs"][0]
    node, node_listener, user_listener = node_a_and_root
    payload = base64.b64encode(b'{"method": "m"}').decode()
    foreign = root_api.ok(
        "POST",
        "/task",
        json={
            "image": "i",
            "collaboration_id": fed["other"],
            "organizations": [{"id": org_a, "input": payload}],
        },
    )
    task = root_api.ok(
        "POST",
        "/task",
        json={
            "image": "i",
            "collaboration_id": fed["collab"],
            "organizations": [{"id": org_a, "input": payload}],
        },
    )
    got = node_listener.wait("new_task")
    assert got == {"id": task["id"], "parent_id": None}, "foreign task must not arrive"
    assert foreign["id"] != task["id"]
    run = root_api.ok("GET", "/run", params={"task_id": task["id"]})["data"][0]
    node.ok("PATCH", f"/run/{run['id']}", json={"status": "active"})
    about_run = lambda d: d["run_id"] == run["id"]  # noqa: E731
    got = user_listener.wait_each(
        {"algorithm_status_change": about_run, "status_update": about_run}
    )
    change = got["algorithm_status_change"]
    assert change["status"] == "active" and change["task_id"] == task["id"]
    assert change["collaboration_id"] == fed["collab"]
    root_api.ok("POST", "/kill/task", json={"id": task["id"]})
    kill = node_listener.wait("kill_containers")
    assert kill["kill_list"][0]["run_id"] == run["id"]


def test_run_offers_reach_only_nodes_that_ask_and_come_before_new_task(
    live_server: LiveServer, root_api: Api, fed: dict
) -> None:
    org_a, org_b = fed["orgs"]
    node_a = Api.as_node(live_server.api_url, fed["nodes"][org_a]["api_key"])
    node_b = Api.as_node(live_server.api_url, fed["nodes"][org_b]["api_key"])
    asking = Listener(live_server, node_a.token, auth={"features": ["run_offer"]})
    plain = Listener(live_server, node_b.token)
    try:
        asking.wait("sync")
        plain.wait("sync")
        inputs = {
            org: base64.b64encode(f"input for {org}".encode()).decode() for org in fed["orgs"]
        }
        task = root_api.ok(
            "POST",
            "/task",
            json={
                "image": "offered/image:1",
                "collaboration_id": fed["collab"],
                "organizations": [{"id": org, "input": inputs[org]} for org in fed["orgs"]],
                "databases": [{"label": "default", "query": "q"}],
            },
        )
        # the server sends the offer first, but this client may hand them over in either order
        got = asking.wait_each(
            {
                "run_offer": lambda d: d["run"]["task"]["id"] == task["id"],
                "new_task": lambda d: d["id"] == task["id"],
            }
        )
        first = got["run_offer"]
        assert got["new_task"] == {"id": task["id"], "parent_id": None}
        run = first["run"]
        assert run["organization"]["id"] == org_a and run["input"] == inputs[org_a]
        assert run["task"]["image"] == "offered/image:1"
        assert run["task"]["databases"][0]["label"] == "default"
        # the offered token is a working container token for this task, as POST would give
        container = Api(live_server.api_url, first["container_token"])
        assert container.ok("GET", f"/task/{task['id']}")["id"] == task["id"]
        assert container.get("/user").status_code in (401, 403)
        # the node that did not ask sees only what vantage6 nodes see
        assert plain.wait("new_task") == {"id": task["id"], "parent_id": None}
        with pytest.raises(AssertionError):
            plain.wait("run_offer", timeout=0.5)
    finally:
        asking.close()
        plain.close()


def test_status_reported_by_a_node_after_its_patch_is_announced_once(
    root_api: Api, fed: dict, node_a_and_root: tuple
) -> None:
    org_a = fed["orgs"][0]
    node, node_socket, user = node_a_and_root
    task = root_api.ok(
        "POST",
        "/task",
        json={
            "image": "i",
            "collaboration_id": fed["collab"],
            "organizations": [{"id": org_a, "input": base64.b64encode(b"{}").decode()}],
        },
    )
    run = root_api.ok("GET", "/run", params={"task_id": task["id"]})["data"][0]

    def about_run(status: str):
        return lambda d: d["run_id"] == run["id"] and d["status"] == status

    def node_says(status: str) -> None:
        data = {"status": status, "run_id": run["id"], "task_id": task["id"]}
        node_socket.sio.emit("algorithm_status_change", data, namespace="/tasks")

    # as a node does: PATCH, then tell the collaboration
    node.ok("PATCH", f"/run/{run['id']}", json={"status": "active"})
    node_says("active")
    user.wait("algorithm_status_change", match=about_run("active"))
    with pytest.raises(AssertionError):  # the server announced it; no second time
        user.wait("algorithm_status_change", timeout=0.7, match=about_run("active"))
    # a status the server has not stored (a node that tells before it PATCHes) is relayed
    node_says("completed")
    relayed = user.wait("algorithm_status_change", match=about_run("completed"))
    assert relayed["node_id"] == fed["nodes"][org_a]["id"]
    # a kill is announced by the server; the node's later "killed" report is not repeated
    root_api.ok("POST", "/kill/task", json={"id": task["id"]})
    user.wait("algorithm_status_change", match=about_run("killed by user"))
    node.ok("PATCH", f"/run/{run['id']}", json={"status": "killed by user"})
    node_says("killed by user")
    node_says("active")  # stale: the run has finished
    with pytest.raises(AssertionError):
        user.wait(
            "algorithm_status_change",
            timeout=0.7,
            match=lambda d: d["run_id"] == run["id"],
        )


def test_two_instances_share_events_through_rabbitmq(tmp_path) -> None:
    """Two servers on one PostgreSQL database, linked by RabbitMQ: events cross over."""
    import uuid

    import yaml

    from tests.livestack import create_pg_database, drop_pg_database

    uri, name = create_pg_database()
    config = tmp_path / "server.yaml"
    exchange_vhost = "amqp://guest:guest@127.0.0.1:5672//"
    config.write_text(
        yaml.safe_dump({"rabbitmq_uri": exchange_vhost, "jwt_secret": uuid.uuid4().hex})
    )
    first = LiveServer(database_uri=uri, workdir=tmp_path, config_file=config).start()
    second_dir = tmp_path / "second"
    second_dir.mkdir()
    second = LiveServer(database_uri=uri, workdir=second_dir, config_file=config).start()
    try:
        root1 = Api.as_user(first.api_url, "root", first.root_password)
        org = root1.ok("POST", "/token/user/validate")["organization_id"]  # root's own
        collab = root1.ok(
            "POST",
            "/collaboration",
            json={"name": "mq", "organization_ids": [org], "encrypted": False},
        )["id"]
        listener = Listener(first, root1.token)
        try:
            root2 = Api.as_user(second.api_url, "root", second.root_password)
            task = root2.ok(
                "POST",
                "/task",
                json={
                    "image": "i",
                    "collaboration_id": collab,
                    "organizations": [{"id": org, "input": base64.b64encode(b"{}").decode()}],
                },
            )
            got = listener.wait("new_task", timeout=10, match=lambda d: d["id"] == task["id"])
            assert got["parent_id"] is None
        finally:
            listener.close()
    finally:
        first.stop()
        second.stop()
        drop_pg_database(name)


def test_node_info_update_advertises_encryption_schemes(
    live_server: LiveServer, root_api: Api, fed: dict
) -> None:
    org = fed["orgs"][1]
    assert root_api.ok("GET", f"/organization/{org}")["encryption_schemes"] == []
    node = Api.as_node(live_server.api_url, fed["nodes"][org]["api_key"])
    listener = Listener(live_server, node.token)
    try:
        listener.wait("sync")
        listener.sio.emit(
            "node_info_update",
            {"encryption_schemes": ["gcm-oaep", "v6-ctr"], "database_labels": ["default"]},
            namespace="/tasks",
        )
        deadline = time.monotonic() + 5
        while root_api.ok("GET", f"/organization/{org}")["encryption_schemes"] != [
            "gcm-oaep",
            "v6-ctr",
        ]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        configs = root_api.ok("GET", f"/node/{fed['nodes'][org]['id']}")["config"]
        assert {
            "key": "encryption_schemes",
            "value": "gcm-oaep",
            "node_id": fed["nodes"][org]["id"],
        } in configs
    finally:
        listener.close()
