"""Run outcomes and isolation, with real podman: policy denial, crash, kill, environment,
what an algorithm can reach and see."""

from __future__ import annotations

import socket
import time

import pytest

from tests.node.conftest import make_datasets
from tests.node.harness import Federation, containers_of, instance_of

pytestmark = [pytest.mark.containers, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def fed(podman_images, test_image, live_server, root_api, tmp_path_factory):
    """Three stations; the second only allows the demo image, the third insists on pulls."""
    federation = Federation(
        live_server,
        root_api,
        tmp_path_factory.mktemp("scenarios"),
        make_datasets(3),
        extra_config={
            "algorithm_env": {"ALGO_GREETING": "hello $world"},
            "limits": {"cpus": 0.5, "memory": "256m", "pids": 200},
        },
    )
    strict = federation.stations[1]
    strict.extra_config = {"policies": {"allowed_algorithms": ["localhost/v6-demo"]}}
    strict.write_config(live_server)
    pulling = federation.stations[2]
    pulling.extra_config = {"policies": {"require_algorithm_pull": True}}
    pulling.write_config(live_server)
    federation.start()
    yield federation
    federation.stop()


def _run_of(fed: Federation, task_id: int) -> dict:
    (run,) = fed.wait_runs_settled(task_id)
    return run


def test_denied_image_is_not_allowed(fed, test_image):
    strict = fed.stations[1]
    task = fed.create_task({"method": "echo"}, [strict.org_id], image=test_image)
    run = _run_of(fed, task["id"])
    assert run["status"] == "not allowed"
    assert "allowed_algorithms" in (run["log"] or "")
    # the demo image (allowed without tag) still runs there
    task = fed.create_task({"method": "summary_partial", "kwargs": {}}, [strict.org_id])
    assert _run_of(fed, task["id"])["status"] == "completed", fed.logs()


def test_crash_is_reported_with_its_log(fed, test_image):
    station = fed.stations[0]
    task = fed.create_task(
        {"method": "crash", "kwargs": {"message": "deliberate failure 42"}},
        [station.org_id],
        image=test_image,
    )
    run = _run_of(fed, task["id"])
    assert run["status"] == "crashed"
    assert "about to fail" in run["log"]
    assert "deliberate failure 42" in run["log"]
    assert fed.results(task["id"]) == [None]


def test_kill_stops_the_container(fed, test_image):
    station = fed.stations[0]
    task = fed.create_task(
        {"method": "sleep", "kwargs": {"seconds": 120, "marker": "sleeping"}},
        [station.org_id],
        image=test_image,
    )
    fed.wait_marker(station, task["id"], "sleeping", timeout=60)
    started = time.monotonic()
    fed.researcher.ok("POST", "/kill/task", json={"id": task["id"]})
    run = _run_of(fed, task["id"])
    assert run["status"] == "killed by user"
    # the node stops the container and reports the log it had
    deadline = time.monotonic() + 30
    while "going to sleep" not in (fed.runs(task["id"])[0]["log"] or ""):
        assert time.monotonic() < deadline, (fed.runs(task["id"]), fed.logs())
        time.sleep(0.2)
    instance = instance_of(station)
    while any(c["Labels"].get("v6node.run_id") == str(run["id"]) for c in containers_of(instance)):
        assert time.monotonic() - started < 30, "killed container still there"
        time.sleep(0.2)


def test_environment_of_the_algorithm(fed, test_image):
    station = fed.stations[0]
    task = fed.create_task(
        {"method": "echo", "kwargs": {"x": 1}}, [station.org_id], image=test_image
    )
    assert _run_of(fed, task["id"])["status"] == "completed", fed.logs()
    (result,) = fed.results(task["id"])
    env = result["env"]
    assert result["kwargs"] == {"x": 1}
    assert env["INPUT_FILE"] == "/mnt/data/input"
    assert env["OUTPUT_FILE"] == "/mnt/data/output"
    assert env["TOKEN_FILE"] == "/mnt/data/token"
    assert env["TEMPORARY_FOLDER"] == "/mnt/tmp"
    assert env["HOST"] == "http://127.0.0.1"
    assert env["PORT"] == "8080"
    assert env["USER_REQUESTED_DATABASE_LABELS"] == "default"
    assert env["DEFAULT_DATABASE_URI"] == "/mnt/db/default.csv"
    assert env["DEFAULT_DATABASE_TYPE"] == "csv"
    assert env["ALGO_GREETING"] == "hello $world"

    task = fed.create_task({"method": "count_rows"}, [station.org_id], image=test_image)
    assert _run_of(fed, task["id"])["status"] == "completed", fed.logs()
    assert fed.results(task["id"]) == [len(station.data)]


def _host_address() -> str:
    """An address of this machine other than loopback (where the server also listens)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))
            return sock.getsockname()[0]
        except OSError:
            return "127.0.0.1"


def test_algorithm_reaches_only_its_proxy(fed, test_image, live_server):
    station = fed.stations[0]
    other = fed.create_task(
        {"method": "sleep", "kwargs": {"seconds": 20, "marker": "secret-of-other-run"}},
        [station.org_id],
        image=test_image,
    )
    other_run_id = fed.wait_marker(station, other["id"], "secret-of-other-run", timeout=60)["id"]
    other_folder = station.run_folder(other_run_id).path

    targets = [
        ["127.0.0.1", 8080],  # the proxy, through the forwarder
        ["127.0.0.1", live_server.port],  # the server is not on this loopback
        [_host_address(), live_server.port],  # nor reachable over any interface
        ["1.1.1.1", 53],
        ["10.0.2.2", 80],
    ]
    paths = [
        str(other_folder),
        str(other_folder / "tmp"),
        str(station.task_dir),
        str(station.data_path),
        "/mnt/tmp",
        "/mnt/data",
        "/mnt/db",
    ]
    task = fed.create_task(
        {"method": "probe", "kwargs": {"targets": targets, "paths": paths}},
        [station.org_id],
        image=test_image,
    )
    assert _run_of(fed, task["id"])["status"] == "completed", fed.logs()
    (result,) = fed.results(task["id"])
    tcp = result["tcp"]
    assert tcp["127.0.0.1:8080"] == "connected"
    for target, outcome in tcp.items():
        if target != "127.0.0.1:8080":
            assert outcome.startswith("failed"), (target, outcome)
    assert result["dns"].startswith("failed")
    assert result["interfaces"] in (["lo"], None)
    # nothing of the host or of the other run is visible
    assert result["paths"][str(other_folder)] is None
    assert result["paths"][str(other_folder / "tmp")] is None
    assert result["paths"][str(station.task_dir)] is None
    assert result["paths"][str(station.data_path)] is None
    assert result["paths"]["/mnt/tmp"] == []
    assert sorted(result["paths"]["/mnt/data"]) == ["input", "output", "token"]
    assert result["paths"]["/mnt/db"] == ["default.csv"]
    assert sorted(result["mnt"]) == ["data", "db", "tmp"]
    fed.researcher.ok("POST", "/kill/task", json={"id": other["id"]})


def test_proxy_refuses_what_containers_may_not_do(fed, test_image):
    station = fed.stations[0]
    task = fed.create_task({"method": "forbidden_calls"}, [station.org_id], image=test_image)
    assert _run_of(fed, task["id"])["status"] == "completed", fed.logs()
    (result,) = fed.results(task["id"])
    assert result and all(status == 403 for status in result.values()), result


def test_cpu_memory_and_process_limits_apply(fed, test_image):
    station = fed.stations[0]
    task = fed.create_task({"method": "cgroup_limits"}, [station.org_id], image=test_image)
    assert _run_of(fed, task["id"])["status"] == "completed", fed.logs()
    (limits,) = fed.results(task["id"])
    memory = limits["memory_v2"] or limits["memory_v1"]
    assert int(memory) == 256 * 1024 * 1024, limits
    if limits["cpu_v2"]:
        quota, period = limits["cpu_v2"].split()
    else:
        quota, period = limits["cpu_quota_v1"], limits["cpu_period_v1"]
    assert int(quota) / int(period) == pytest.approx(0.5), limits
    assert (limits["pids_v2"] or limits["pids_v1"]) == "200", limits


def test_required_pull_of_an_unpullable_image(fed, test_image):
    """``require_algorithm_pull``: a local image is not enough when the pull fails."""
    pulling = fed.stations[2]
    task = fed.create_task({"method": "echo"}, [pulling.org_id], image=test_image)
    run = _run_of(fed, task["id"])
    assert run["status"] == "non-existing Docker image"
    assert "could not be pulled" in run["log"]
