"""End to end with real podman: a live server, three nodes with different CSV data."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from tests.node.conftest import make_datasets
from tests.node.harness import Federation

pytestmark = [pytest.mark.containers, pytest.mark.timeout(600)]


def _check_summary(result: dict, pooled: pd.DataFrame) -> None:
    for column in pooled.columns:
        got = result[column]
        values = pooled[column].astype(float)
        assert got["count"] == len(values)
        assert math.isclose(got["mean"], values.mean(), rel_tol=1e-12)
        assert math.isclose(got["variance"], values.var(ddof=1), rel_tol=1e-9)
        assert got["min"] == values.min()
        assert got["max"] == values.max()


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_summary_over_three_nodes(podman_images, live_server, root_api, tmp_path, encrypted):
    datasets = make_datasets(3)
    fed = Federation(live_server, root_api, tmp_path, datasets, encrypted=encrypted)
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
        if encrypted:
            raw = fed.researcher.ok("GET", "/result", params={"task_id": task["id"]})["data"]
            assert "$" in raw[0]["result"] or raw[0]["result"].startswith("v6n-gcm1:")
    finally:
        fed.stop()
