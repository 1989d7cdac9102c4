"""Our node as a station of a published vantage6-server 4.14 (issue 9, second direction).

A site may upgrade its node before its consortium upgrades the server. Every test here runs our
node (``python -m vantage6_node``) against the released server, unchanged, under uWSGI as its
image runs it (``benchmarks/bench_servers.py``; its Python 3.10 venv is made by
``scripts/install.sh``). That server offers none of our extras (no ``encryption_scheme`` on the
collaboration, no ``run_offer`` events, no use for the node's announced schemes): our node falls
back to the vantage6 4.x format and events without an ERROR line.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.bench_servers import ReferenceServer
from tests.api import RenewingApi
from tests.node.conftest import make_datasets, podman_images, test_image  # noqa: F401 - fixtures
from tests.node.harness import (
    PASSWORD,
    REPO,
    Federation,
    Station,
    containers_of,
    image_present,
    instance_of,
)
from tests.published import published_python, published_server_venv

pytestmark = [pytest.mark.containers, pytest.mark.timeout(900)]

PUBLISHED_IMAGE = "localhost/v6-published-tools:latest"
FINISHED = ("completed", "failed", "crashed", "killed by user", "not allowed", "start failed")
# our node's log format: "<date> <time> LEVEL   logger: message"
ERROR_LINE = re.compile(r"^\S+ \S+ (ERROR|CRITICAL) ", re.MULTILINE)


# -- the server ---------------------------------------------------------------------------------
def start_reference(workdir: Path, extra_config: dict | None = None) -> ReferenceServer:
    """vantage6-server 4.14 on a fresh SQLite file (root/root is created at its first start)."""
    server = ReferenceServer(
        workdir, published_server_venv(), log_level="INFO", extra_config=extra_config
    )
    try:
        server.start(timeout=240)
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="module")
def v6_server(
    podman_images,  # noqa: F811 - fixture imported above
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ReferenceServer]:
    if not image_present(PUBLISHED_IMAGE):
        pytest.skip(f"{PUBLISHED_IMAGE} missing (python -m containers.images build)")
    server = start_reference(tmp_path_factory.mktemp("v6ref"))
    yield server
    server.stop()


def _federation(server: ReferenceServer, workdir: Path, encrypted: bool, datasets) -> Federation:
    root = RenewingApi(server.api_url, server.root_username, server.root_password)
    fed = Federation(server, root, workdir, datasets, encrypted=encrypted)  # type: ignore[arg-type]
    fed.researcher = RenewingApi(server.api_url, fed.researcher_username, PASSWORD)
    try:
        fed.start()
        fed.wait_online(timeout=120)
    except BaseException:
        fed.stop()
        raise
    return fed


@pytest.fixture(scope="module", params=[False, True], ids=["plain", "encrypted"])
def fed(request, v6_server, tmp_path_factory) -> Iterator[Federation]:
    """Two organizations with a node of ours each, in a plain or encrypted collaboration."""
    datasets = make_datasets(2, seed=31)
    federation = _federation(
        v6_server, tmp_path_factory.mktemp("ours-on-v6"), request.param, datasets
    )
    federation.datasets = datasets
    yield federation
    federation.stop()


# -- helpers ------------------------------------------------------------------------------------
def wait_task(fed: Federation, task_id: int, timeout: float = 300) -> str:
    deadline = time.monotonic() + timeout
    while True:
        status = fed.researcher.ok("GET", f"/task/{task_id}/status")["status"]
        if status in FINISHED:
            return status
        assert time.monotonic() < deadline, f"task {task_id} still {status}\n{fed.logs()}"
        time.sleep(0.2)


def marks(fed: Federation) -> list[int]:
    return [len(s.log_path.read_bytes()) if s.log_path.exists() else 0 for s in fed.stations]


def errors_since(station: Station, mark: int) -> list[str]:
    text = station.log_path.read_bytes()[mark:].decode(errors="replace")
    return [line for line in text.splitlines() if ERROR_LINE.match(line)]


# -- tests --------------------------------------------------------------------------------------
def test_central_task_with_partials_through_the_proxy(fed: Federation):
    """A central task on our node starts partial subtasks at both organizations through our
    proxy (input in the vantage6 4.x format: the collaboration declares no scheme), reads their
    results back, and its result equals pandas on the pooled data. No ERROR line in the logs."""
    since = marks(fed)
    first = fed.stations[0]
    task = fed.create_task(
        {"method": "central_mean", "kwargs": {"column": "age"}},
        [first.org_id],
        image=PUBLISHED_IMAGE,
    )
    assert wait_task(fed, task["id"]) == "completed", (fed.runs(task["id"]), fed.logs())
    (result,) = fed.results(task["id"])
    pooled = pd.concat(fed.datasets, ignore_index=True)["age"]
    assert result["count"] == len(pooled)
    assert math.isclose(result["mean"], pooled.mean(), rel_tol=1e-12)
    assert result["organizations"] == sorted(s.org_id for s in fed.stations)
    (child,) = fed.researcher.ok("GET", "/task", params={"parent_id": task["id"]})["data"]
    assert {r["status"] for r in fed.runs(child["id"])} == {"completed"}
    # the 4.14 server sends no run offers and declares no scheme: runs came by new_task, their
    # input in the vantage6 4.x format
    by_org = {s.org_id: s for s in fed.stations}
    for run in fed.runs(task["id"]) + fed.runs(child["id"]):
        state = by_org[run["organization"]["id"]].run_folder(run["id"]).load_state()
        assert state is not None and state.source in ("new_task", "sync"), state
        assert state.input_scheme == ("v6-ctr" if fed.encrypted else None), state
    for station, mark in zip(fed.stations, since, strict=True):
        assert errors_since(station, mark) == [], station.log_tail()


def test_published_client_reads_what_our_nodes_write(fed: Federation):
    """The published vantage6-client 4.14 creates the task on the 4.14 server and decrypts its
    result: our nodes read its 4.x input and write the 4.x format (the collaboration declares
    no ``encryption_scheme``, so the authenticated format stays off)."""
    python = published_python()
    first = fed.stations[0]
    since = marks(fed)
    done = subprocess.run(
        [
            str(python),
            str(REPO / "tests" / "node" / "published_client_task.py"),
            "http://127.0.0.1",
            str(fed.server.port),
            fed.researcher_username,
            PASSWORD,
            str(first.private_key) if fed.encrypted else "-",
            str(fed.collaboration_id),
            str(first.org_id),
            PUBLISHED_IMAGE,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-4000:], fed.logs())
    (result,) = json.loads(done.stdout.strip().splitlines()[-1])["results"]
    result = json.loads(result) if isinstance(result, str) else result  # 4.14 gives JSON text
    pooled = pd.concat(fed.datasets, ignore_index=True)["age"]
    assert result["count"] == len(pooled)
    assert math.isclose(result["mean"], pooled.mean(), rel_tol=1e-12)
    for station, mark in zip(fed.stations, since, strict=True):
        assert errors_since(station, mark) == [], station.log_tail()
        text = station.log_path.read_text(errors="replace")
        assert "collaboration encryption_scheme: vantage6" in text


def test_crash_reports_status_and_log(fed: Federation):
    task = fed.create_task(
        {"method": "fail", "kwargs": {"message": "crash as asked"}},
        [fed.stations[1].org_id],
        image=PUBLISHED_IMAGE,
    )
    assert wait_task(fed, task["id"]) == "crashed", fed.logs()
    (run,) = fed.runs(task["id"])
    assert "crash as asked" in run["log"]
    assert "RuntimeError" in run["log"]
    assert run["finished_at"] is not None


def test_kill_stops_the_algorithm(fed: Federation, test_image):  # noqa: F811
    """``POST /kill/task`` on the 4.14 server: our node stops the container, the run is killed."""
    station = fed.stations[0]
    task = fed.create_task(
        {"method": "sleep", "kwargs": {"seconds": 600, "marker": "asleep"}},
        [station.org_id],
        image=test_image,
    )
    run = fed.wait_marker(station, task["id"], "asleep", timeout=240)
    # (vantage6 4.14's Researcher role may not kill tasks; root may)
    fed.root.ok("POST", "/kill/task", json={"id": task["id"]})
    assert wait_task(fed, task["id"], timeout=120) == "killed by user", fed.logs()
    assert fed.runs(task["id"])[0]["id"] == run["id"]
    deadline = time.monotonic() + 60
    while any(
        c["Labels"].get("v6node.run_id") == str(run["id"])
        for c in containers_of(instance_of(station))
    ):
        assert time.monotonic() < deadline, f"container still there\n{station.log_tail()}"
        time.sleep(0.5)


def test_offline_node_catches_up(fed: Federation):
    """A run created while our node was stopped is run when it connects again."""
    station = fed.stations[1]
    station.stop()
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
    mark = len(station.log_path.read_bytes())
    station.start()
    fed.wait_online([station], timeout=120)
    assert wait_task(fed, task["id"]) == "completed", fed.logs()
    (result,) = fed.results(task["id"])
    weights = fed.datasets[1]["weight"]
    assert result["count"] == len(weights)
    assert math.isclose(result["sum"], weights.sum(), rel_tol=1e-12)
    assert errors_since(station, mark) == [], station.log_tail()


def test_expired_token_reconnects_and_keeps_working(tmp_path, podman_images):  # noqa: F811
    """Our node's access token has expired when the server comes back: the node gets a new one
    (``expired_token`` on the socket, 401 on REST), connects again and keeps running tasks.

    vantage6 4.14 lets an access token live 30 minutes at least (``token_expires_hours``), too
    long to wait for: the server is started again with its clock 35 minutes ahead
    (libfaketime), which is what a server away for that long looks like to the node."""
    if not image_present(PUBLISHED_IMAGE):
        pytest.skip(f"{PUBLISHED_IMAGE} missing")
    server = start_reference(tmp_path / "server", extra_config={"token_expires_hours": 0.5})
    fed = None
    try:
        datasets = make_datasets(1, seed=5)
        fed = _federation(server, tmp_path / "fed", False, datasets)
        station = fed.stations[0]
        server.stop()
        mark = len(station.log_path.read_bytes())
        server.extra_env = libfaketime_env(ahead_seconds=35 * 60)
        server_mark = len(server.log_path.read_bytes())
        server.start(timeout=240)
        station.wait_log(r"node token refreshed", after=mark)
        # the server did refuse the node's token as expired (its socket handshake)
        assert b"JWT has expired" in server.log_path.read_bytes()[server_mark:]
        fed.wait_online(timeout=180)
        task = fed.create_task(
            {"method": "partial_stats", "kwargs": {"column": "visits"}},
            [station.org_id],
            image=PUBLISHED_IMAGE,
        )
        assert wait_task(fed, task["id"]) == "completed", fed.logs()
        (result,) = fed.results(task["id"])
        assert result["count"] == len(datasets[0])
        assert result["sum"] == datasets[0]["visits"].sum()
        assert errors_since(station, mark) == [], station.log_tail()
    finally:
        if fed is not None:
            fed.stop()
        server.stop()


LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")


def libfaketime_env(ahead_seconds: int) -> dict[str, str]:
    """Environment that moves a process's wall clock ahead (monotonic clocks untouched)."""
    if not LIBFAKETIME.exists():
        message = f"libfaketime not found at {LIBFAKETIME} (apt-get install faketime)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return {
        "LD_PRELOAD": str(LIBFAKETIME),
        "FAKETIME": f"+{ahead_seconds}",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }
