"""Restarts with real podman: nodes and the server going away mid-run lose no run and no result."""

from __future__ import annotations

import time

import pytest

from tests.api import Api
from tests.livestack import start_server
from tests.node.conftest import make_datasets
from tests.node.harness import Federation, Station, containers_of, instance_of

pytestmark = [pytest.mark.containers, pytest.mark.timeout(900)]


@pytest.fixture
def server():
    live, cleanup = start_server("sqlite")
    yield live
    cleanup()


@pytest.fixture
def fed(podman_images, test_image, server, tmp_path):
    root = Api.as_user(server.api_url, server.root_username, server.root_password)
    federation = Federation(server, root, tmp_path, make_datasets(2))
    federation.start()
    yield federation
    federation.stop()


def _no_containers_left(station: Station, timeout: float = 30) -> None:
    instance = instance_of(station)
    deadline = time.monotonic() + timeout
    while True:
        left = [c for c in containers_of(instance) if c["Labels"].get("v6node.role") == "algorithm"]
        if not left:
            return
        assert time.monotonic() < deadline, left
        time.sleep(0.3)


def test_node_killed_mid_run_resumes_its_container(fed, test_image):
    node0 = fed.stations[0]
    task = fed.create_task(
        {"method": "sleep", "kwargs": {"seconds": 8, "marker": "asleep"}}, image=test_image
    )
    run = fed.wait_marker(node0, task["id"], "asleep")
    node0.kill()
    time.sleep(2)
    node0.start()
    assert fed.wait_task(task["id"]) == "completed", fed.logs()
    assert fed.results(task["id"]) == ["slept", "slept"]
    # recovery logs its summary after resuming, so the run may complete before the line is there
    deadline = time.monotonic() + 30
    while f"resumed [{run['id']}]" not in (log_text := node0.log_tail(10**8)):
        assert time.monotonic() < deadline, log_text[-6000:]
        time.sleep(0.2)
    _no_containers_left(node0)


def test_container_that_finished_while_the_node_was_down(fed, test_image):
    node0 = fed.stations[0]
    task = fed.create_task(
        {"method": "sleep", "kwargs": {"seconds": 2, "marker": "asleep"}},
        [node0.org_id],
        image=test_image,
    )
    fed.wait_marker(node0, task["id"], "asleep")
    node0.kill()
    time.sleep(6)  # the container exits meanwhile
    assert fed.runs(task["id"])[0]["status"] == "active"
    node0.start()
    assert fed.wait_task(task["id"]) == "completed", fed.logs()
    assert fed.results(task["id"]) == ["slept"]
    run = fed.runs(task["id"])[0]
    assert "woke up" in run["log"]
    _no_containers_left(node0)


def test_kill_while_the_node_was_down(fed, test_image):
    node0 = fed.stations[0]
    task = fed.create_task(
        {"method": "sleep", "kwargs": {"seconds": 300, "marker": "asleep"}},
        [node0.org_id],
        image=test_image,
    )
    fed.wait_marker(node0, task["id"], "asleep")
    node0.kill()
    fed.researcher.ok("POST", "/kill/task", json={"id": task["id"]})
    node0.start()
    fed.wait_online([node0])
    assert fed.wait_task(task["id"]) == "killed by user"
    _no_containers_left(node0)


def test_server_restarted_mid_run(fed, test_image, server):
    node0 = fed.stations[0]
    task = fed.create_task(
        {"method": "central_sleep", "kwargs": {"seconds": 6, "marker": "asleep"}},
        [node0.org_id],
        image=test_image,
    )
    # wait until the subtask runs on both nodes
    deadline = time.monotonic() + 90
    while True:
        children = fed.researcher.ok("GET", "/task", params={"parent_id": task["id"]})["data"]
        if children:
            break
        assert time.monotonic() < deadline, (fed.runs(task["id"]), fed.logs())
        time.sleep(0.1)
    for station in fed.stations:
        fed.wait_marker(station, children[0]["id"], "asleep")
    server.stop()
    time.sleep(4)
    server.start()
    assert fed.wait_task(task["id"], timeout=180) == "completed", fed.logs()
    (result,) = fed.results(task["id"])
    assert result == ["slept", "slept"]
    for run in fed.runs(children[0]["id"]):
        assert run["status"] == "completed"


def test_result_kept_on_disk_until_the_server_has_it(fed, test_image, server):
    """Server down when the run ends, node restarted meanwhile: the result still arrives."""
    node0 = fed.stations[0]
    task = fed.create_task(
        {"method": "sleep", "kwargs": {"seconds": 3, "marker": "asleep"}},
        [node0.org_id],
        image=test_image,
    )
    run = fed.wait_marker(node0, task["id"], "asleep")
    server.stop()
    folder = node0.run_folder(run["id"]).path
    deadline = time.monotonic() + 60
    while not (folder / "report.json").exists():
        assert time.monotonic() < deadline, node0.log_tail()
        time.sleep(0.2)
    node0.stop()  # the report waits on disk
    assert (folder / "report.json").exists()
    server.start()
    node0.start()
    assert fed.wait_task(task["id"]) == "completed", fed.logs()
    assert fed.results(task["id"]) == ["slept"]
    deadline = time.monotonic() + 30
    while (folder / "report.json").exists():
        assert time.monotonic() < deadline
        time.sleep(0.2)
