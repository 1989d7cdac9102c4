"""The published vantage6-node 4.14, unchanged, as a station on our server.

Sites run 4.x nodes; a consortium can move to this server only if those keep working while each
site upgrades when it likes. Every test here runs the released node (its own Python 3.10 venv,
``scripts/install.sh``) on the host with podman's Docker API, against a live server of ours.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import pandas as pd
import pytest

from tests.api import RenewingApi
from tests.livestack import start_server
from tests.mixed.published_node import PublishedNode, published_logs
from tests.node.conftest import make_datasets, podman_images, test_image  # noqa: F401 - fixtures
from tests.node.harness import PASSWORD, Federation, image_present, podman
from tests.published import published_node_python
from vantage6_runtime_podman.service import PodmanService

pytestmark = [pytest.mark.containers, pytest.mark.timeout(900)]

PUBLISHED_IMAGE = "localhost/v6-published-tools:latest"
DEMO_IMAGE = "localhost/v6-demo:latest"
FINISHED = ("completed", "failed", "crashed", "killed by user", "not allowed", "start failed")


# -- fixtures -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def published_image(podman_images) -> str:  # noqa: F811 - the fixture imported above
    published_node_python()  # skip (fail under CI) before anything starts
    if not image_present(PUBLISHED_IMAGE):
        pytest.skip(f"{PUBLISHED_IMAGE} missing (python -m containers.images build)")
    return PUBLISHED_IMAGE


@pytest.fixture(scope="module")
def docker_api(tmp_path_factory: pytest.TempPathFactory, published_image) -> Iterator[str]:
    """A private ``podman system service``: the Docker API the published nodes use."""
    folder = tmp_path_factory.mktemp("docker-api")
    service = PodmanService(folder / "podman.sock", log_path=folder / "service.log")
    service.start()
    yield service.url
    service.stop()


class PublishedFederation:
    """A federation whose stations (all, or the first ``published`` ones) run the 4.14 node."""

    def __init__(
        self,
        fed: Federation,
        docker_url: str,
        published: int | None = None,
    ) -> None:
        self.fed = fed
        count = len(fed.stations) if published is None else published
        self.nodes = [PublishedNode(s, fed.server, docker_url) for s in fed.stations[:count]]
        self.ours = fed.stations[count:]

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        for station in self.ours:
            station.start()
        self.fed.wait_online(timeout=240)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        for node in self.nodes:
            node.remove_engine_objects()
        self.fed.stop()

    def logs(self) -> str:
        return f"{published_logs(self.nodes)}\n{self.fed.logs()}"

    def wait_task(self, task_id: int, timeout: float = 300) -> str:
        deadline = time.monotonic() + timeout
        while True:
            status = self.fed.researcher.ok("GET", f"/task/{task_id}/status")["status"]
            if status in FINISHED:
                return status
            assert time.monotonic() < deadline, f"task {task_id} still {status}\n{self.logs()}"
            time.sleep(0.2)

    def wait_run_status(
        self, task_id: int, statuses: tuple[str, ...], timeout: float = 300
    ) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            runs = self.fed.runs(task_id)
            if runs and runs[0]["status"] in statuses:
                return runs[0]
            assert time.monotonic() < deadline, f"run of task {task_id}: {runs}\n{self.logs()}"
            time.sleep(0.2)


def _federation(live_server, root_api, workdir, docker_api, encrypted, datasets, published=None):
    fed = Federation(live_server, root_api, workdir, datasets, encrypted=encrypted)
    pub = PublishedFederation(fed, docker_api, published)
    try:
        pub.start()
    except BaseException:
        pub.stop()
        raise
    return pub


@pytest.fixture(scope="module", params=[False, True], ids=["plain", "encrypted"])
def two_published(
    request, live_server, root_api, tmp_path_factory, docker_api
) -> Iterator[PublishedFederation]:
    """Two organizations, each with a published 4.14 node (plain or encrypted collaboration)."""
    workdir = tmp_path_factory.mktemp("published-fed")
    datasets = make_datasets(2, seed=11)
    pub = _federation(live_server, root_api, workdir, docker_api, request.param, datasets)
    pub.datasets = datasets
    yield pub
    pub.stop()


def _no_errors(node: PublishedNode, since: tuple[int, int] = (0, 0)) -> None:
    problems = node.problems(since)
    assert problems == [], "\n".join(problems)


# -- tests: published nodes only -----------------------------------------------------------------
def test_central_task_with_partials_through_the_proxy(two_published: PublishedFederation):
    """A central task on a published node starts partial subtasks at both organizations through
    the node's proxy (encrypting each input for its organization in the encrypted case), reads
    their results back through the proxy, and its result equals pandas on the pooled data."""
    pub = two_published
    fed = pub.fed
    first = fed.stations[0]
    marks = [node.marks() for node in pub.nodes]
    task = fed.create_task(
        {"method": "central_mean", "kwargs": {"column": "age"}},
        [first.org_id],
        image=PUBLISHED_IMAGE,
    )
    assert pub.wait_task(task["id"]) == "completed", (fed.runs(task["id"]), pub.logs())
    (result,) = fed.results(task["id"])
    pooled = pd.concat(pub.datasets, ignore_index=True)["age"]
    assert result["count"] == len(pooled)
    assert math.isclose(result["mean"], pooled.mean(), rel_tol=1e-12)
    assert result["organizations"] == sorted(s.org_id for s in fed.stations)
    children = fed.researcher.ok("GET", "/task", params={"parent_id": task["id"]})["data"]
    assert len(children) == 1
    assert {r["status"] for r in fed.runs(children[0]["id"])} == {"completed"}
    # a normal run leaves no ERROR line in the published nodes' logs
    for node, since in zip(pub.nodes, marks, strict=True):
        _no_errors(node, since)


def test_crash_reports_status_and_log(two_published: PublishedFederation):
    pub = two_published
    fed = pub.fed
    task = fed.create_task(
        {"method": "fail", "kwargs": {"message": "crash as asked"}},
        [fed.stations[1].org_id],
        image=PUBLISHED_IMAGE,
    )
    assert pub.wait_task(task["id"]) == "crashed", pub.logs()
    (run,) = fed.runs(task["id"])
    assert "crash as asked" in run["log"]
    assert "RuntimeError" in run["log"]
    assert run["finished_at"] is not None


def test_kill_stops_the_algorithm(two_published: PublishedFederation, test_image):  # noqa: F811
    """``POST /kill/task``: the published node removes the running container and reports the
    run killed."""
    pub = two_published
    fed = pub.fed
    node = pub.nodes[0]
    task = fed.create_task(
        {"method": "sleep", "kwargs": {"seconds": 600}}, [fed.stations[0].org_id], image=test_image
    )
    run = pub.wait_run_status(task["id"], ("active",))
    node.wait_log(rf"\[Task {run['id']}\]: going to sleep", timeout=240)
    fed.researcher.ok("POST", "/kill/task", json={"id": task["id"]})
    assert pub.wait_task(task["id"]) == "killed by user"
    node.wait_log(rf"Killing containers for run_id={run['id']}")
    deadline = time.monotonic() + 60
    while _containers(node, run["id"]):
        assert time.monotonic() < deadline, f"container still there\n{node.tail()}"
        time.sleep(0.5)
    assert fed.runs(task["id"])[0]["status"] == "killed by user"


def _containers(node: PublishedNode, run_id: int) -> list[str]:
    out = podman(
        "ps",
        "-a",
        "-q",
        "--filter",
        f"label=node={node.name}",
        "--filter",
        f"label=run_id={run_id}",
    ).stdout
    return out.split()


def test_database_parameters_reach_the_algorithm(
    two_published: PublishedFederation,
    test_image,  # noqa: F811
):
    """A task's per-database parameters (here a query) arrive in the algorithm's environment:
    the node reads ``task.databases[].parameters`` as JSON text."""
    pub = two_published
    fed = pub.fed
    task = fed.create_task(
        {"method": "database_env"},
        [fed.stations[0].org_id],
        image=test_image,
        databases=[{"label": "default", "query": "SELECT age FROM t"}],
    )
    assert pub.wait_task(task["id"]) == "completed", pub.logs()
    (env,) = fed.results(task["id"])
    assert env["DEFAULT_QUERY"] == "SELECT age FROM t"
    assert env["DEFAULT_DATABASE_TYPE"] == "csv"


def test_offline_node_catches_up(two_published: PublishedFederation):
    """A run created while the node was down is picked up when it reconnects (``sync``)."""
    pub = two_published
    fed = pub.fed
    node, station = pub.nodes[1], fed.stations[1]
    node.stop()
    deadline = time.monotonic() + 60
    while fed.root.ok("GET", f"/node/{station.node_id}")["status"] != "offline":
        assert time.monotonic() < deadline, "node not offline"
        time.sleep(0.2)
    task = fed.create_task(
        {"method": "partial_stats", "kwargs": {"column": "weight"}},
        [station.org_id],
        image=PUBLISHED_IMAGE,
    )
    time.sleep(1)
    assert fed.runs(task["id"])[0]["status"] == "pending"
    since = node.marks()
    node.start()
    fed.wait_online([station], timeout=240)
    assert pub.wait_task(task["id"]) == "completed", pub.logs()
    (result,) = fed.results(task["id"])
    weights = pub.datasets[1]["weight"]
    assert result["count"] == len(weights)
    assert math.isclose(result["sum"], weights.sum(), rel_tol=1e-12)
    _no_errors(node, since)


def test_expired_token_reconnects_and_keeps_working(tmp_path, docker_api, published_image):
    """The node's socket reconnects with the token it first connected with. After the server
    was away for longer than an access token lives, that token has expired: the server sends
    ``expired_token``, the node refreshes its token, connects anew and keeps running tasks."""
    config = tmp_path / "server.yaml"
    config.write_text("access_token_minutes: 1\n")
    server, cleanup = start_server("sqlite", config_file=config)
    pub = None
    try:
        # (access tokens live a minute here)
        root = RenewingApi(server.api_url, server.root_username, server.root_password)
        datasets = make_datasets(1, seed=3)
        pub = _federation(server, root, tmp_path, docker_api, False, datasets)
        fed = pub.fed
        fed.researcher = RenewingApi(server.api_url, fed.researcher_username, PASSWORD)
        node = pub.nodes[0]
        # (its token refresher renews a token that lives under 10 minutes without pause: keep
        # this part short)
        server.stop()
        time.sleep(65 + 5)  # longer than the token lifetime, whenever it was last renewed
        since = len(node.log_text())
        server.start()
        expired = node.wait_log(r"Your token is no longer valid", after=since, timeout=120)
        # The 4.14 node syncs twice after ``expired_token``: its handler syncs after connecting
        # a new socket, and that socket's ``sync`` event syncs again. A run created between the
        # two arrives by ``new_task`` and by the second sync, and the node starts it twice (the
        # second start empties the first one's output): wait for both before creating a task.
        first = node.wait_log(r"Tasks synced again with the server", after=expired.end())
        node.wait_log(r"Tasks synced again with the server", after=first.end())
        task = fed.create_task(
            {"method": "partial_stats", "kwargs": {"column": "visits"}},
            [fed.stations[0].org_id],
            image=PUBLISHED_IMAGE,
        )
        assert pub.wait_task(task["id"]) == "completed", pub.logs()
        (result,) = fed.results(task["id"])
        assert result["count"] == len(datasets[0])
        assert result["sum"] == datasets[0]["visits"].sum()
    finally:
        if pub is not None:
            pub.stop()
        cleanup()


# -- tests: our nodes and a published one --------------------------------------------------------
def test_mixed_federation(live_server, root_api, tmp_path, docker_api):
    """One published 4.14 node and two of ours in an encrypted collaboration: a task over all
    three organizations equals pandas on the pooled data, with its central part on the published
    node (its proxy encrypts the subtask input for our nodes) and on one of ours (our proxy
    encrypts for the published node in the vantage6 format, the one it reads)."""
    datasets = make_datasets(3, seed=23)
    pub = _federation(live_server, root_api, tmp_path, docker_api, True, datasets, published=1)
    try:
        fed = pub.fed
        pooled = pd.concat(datasets, ignore_index=True)
        columns = ["age", "weight"]
        for central in fed.stations[:2]:  # the published node, then one of ours
            task = fed.create_task(
                {"method": "summary", "kwargs": {"columns": columns}},
                [central.org_id],
                image=DEMO_IMAGE,
            )
            assert pub.wait_task(task["id"]) == "completed", (fed.runs(task["id"]), pub.logs())
            (result,) = fed.results(task["id"])
            for column in columns:
                values = pooled[column]
                got = result[column]
                assert got["count"] == len(values)
                assert math.isclose(got["mean"], values.mean(), rel_tol=1e-12)
                assert math.isclose(got["variance"], values.var(ddof=1), rel_tol=1e-9)
                assert got["min"] == values.min() and got["max"] == values.max()
            (child,) = fed.researcher.ok("GET", "/task", params={"parent_id": task["id"]})["data"]
            runs = fed.runs(child["id"])
            assert sorted(r["organization"]["id"] for r in runs) == sorted(
                s.org_id for s in fed.stations
            )
        _no_errors(pub.nodes[0])
    finally:
        pub.stop()
