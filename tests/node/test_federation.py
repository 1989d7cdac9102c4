"""End to end with real podman: a live server, three nodes with different CSV data."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from tests.node.conftest import make_datasets
from tests.node.harness import Federation
from vantage6_common import crypto

pytestmark = [pytest.mark.containers, pytest.mark.timeout(600)]


def _sources(fed: Federation, run_ids: list[int]) -> list[str | None]:
    """How each run reached its node (``source`` in the node's state file of the run)."""
    found = []
    for run_id in run_ids:
        for station in fed.stations:
            path = station.run_folder(run_id).state_file
            if path.is_file():
                found.append(json.loads(path.read_text()).get("source"))
                break
        else:
            found.append("missing")
    return found


def _check_summary(result: dict, pooled: pd.DataFrame) -> None:
    for column in pooled.columns:
        got = result[column]
        values = pooled[column].astype(float)
        assert got["count"] == len(values)
        assert math.isclose(got["mean"], values.mean(), rel_tol=1e-12)
        assert math.isclose(got["variance"], values.var(ddof=1), rel_tol=1e-9)
        assert got["min"] == values.min()
        assert got["max"] == values.max()


@pytest.mark.parametrize(
    ("encrypted", "setting", "scheme"),
    [
        (False, None, None),
        (True, "vantage6", crypto.SCHEME_V6),
        (True, "authenticated", crypto.SCHEME_GCM),
    ],
    ids=["plain", "encrypted", "encrypted-gcm"],
)
def test_summary_over_three_nodes(
    podman_images, live_server, root_api, tmp_path, encrypted, setting, scheme
):
    datasets = make_datasets(3)
    fed = Federation(
        live_server, root_api, tmp_path, datasets, encrypted=encrypted, encryption_scheme=setting
    )
    try:
        fed.start()
        first = fed.stations[0]
        task = fed.create_task({"method": "summary", "kwargs": {}}, org_ids=[first.org_id])
        assert fed.wait_task(task["id"]) == "completed", fed.logs()
        (result,) = fed.results(task["id"])
        _check_summary(result, pd.concat(datasets, ignore_index=True))

        # the central task made one partial subtask with a run on every organization
        children = fed.researcher.ok(
            "GET", "/task", params={"parent_id": task["id"], "per_page": 100}
        )["data"]
        assert len(children) == 1
        runs = fed.runs(children[0]["id"])
        assert sorted(r["organization"]["id"] for r in runs) == sorted(
            s.org_id for s in fed.stations
        )
        assert all(r["status"] == "completed" for r in runs)
        # every run, the central one and those of the subtask its container made, came to its
        # node as a run offer: no lookup and no token request before the container started
        central = [r["id"] for r in fed.runs(task["id"])]
        assert _sources(fed, central + [r["id"] for r in runs]) == ["offer"] * 4
        if encrypted:
            # every value is in the format the collaboration declares: the result, the
            # subtask's inputs and its partial results (whatever the nodes advertise)
            raw = fed.researcher.ok("GET", "/result", params={"task_id": task["id"]})["data"]
            assert crypto.detect_scheme(raw[0]["result"]) == scheme
            for run in fed.researcher.ok(
                "GET", "/run", params={"task_id": children[0]["id"], "per_page": 100}
            )["data"]:
                assert crypto.detect_scheme(run["input"]) == scheme
            sub = fed.researcher.ok(
                "GET", "/result", params={"task_id": children[0]["id"], "per_page": 100}
            )["data"]
            assert [crypto.detect_scheme(r["result"]) for r in sub] == [scheme] * 3
    finally:
        fed.stop()


def test_podman_command_line_backend(podman_images, live_server, root_api, tmp_path):
    """The same with podman driven through its command line (no API service), and nodes that
    work as with a vantage6 server: from ``new_task``, without run offers."""
    datasets = make_datasets(2, seed=3)
    fed = Federation(
        live_server,
        root_api,
        tmp_path,
        datasets,
        extra_config={"runtime_options": {"service": False}, "run_offers": False},
    )
    try:
        fed.start()
        task = fed.create_task(
            {"method": "summary", "kwargs": {}}, org_ids=[fed.stations[0].org_id]
        )
        assert fed.wait_task(task["id"]) == "completed", fed.logs()
        (result,) = fed.results(task["id"])
        _check_summary(result, pd.concat(datasets, ignore_index=True))
        (child,) = fed.researcher.ok("GET", "/task", params={"parent_id": task["id"]})["data"]
        run_ids = [r["id"] for r in fed.runs(task["id"]) + fed.runs(child["id"])]
        assert _sources(fed, run_ids) == ["new_task"] * 3
    finally:
        fed.stop()
