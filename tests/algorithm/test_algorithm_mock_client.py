"""MockAlgorithmClient: whole central + partial runs in one process."""

from __future__ import annotations

import base64
import json
import sqlite3

import pandas as pd
import pytest

import tests.algorithm.helpers  # noqa: F401 - puts the algorithm packages on sys.path
from vantage6_algorithm.mock_client import MockAlgorithmClient

FRAMES = [
    pd.DataFrame({"v": [1.0, 2.0]}),
    pd.DataFrame({"v": [10.0, 20.0, 30.0]}),
    pd.DataFrame({"v": [100.0]}),
]


@pytest.fixture
def mock():
    return MockAlgorithmClient(
        [[{"database": f}] for f in FRAMES],
        module="v6testalgo",
        collaboration_id=5,
        organization_ids=[11, 12, 13],
        node_ids=[21, 22, 23],
    )


def test_central_task_runs_subtasks_on_every_organization(mock):
    task = mock.task.create(
        {"method": "central", "kwargs": {"column": "v"}}, organizations=[12], name="central"
    )
    assert task["status"] == "completed"
    [result] = mock.wait_for_results(task["id"])
    assert result == {"own_rows": 3, "total": 163.0, "n": 3}
    # the central task plus its subtask, in one job; the subtask's parent is the central task
    assert len(mock.tasks) == 2
    sub = mock.tasks[1]
    assert sub["parent"]["id"] == task["id"] and sub["job_id"] == task["job_id"]
    assert sub["init_org"]["id"] == 12
    assert [r["organization"]["id"] for r in mock.run.from_task(sub["id"])] == [11, 12, 13]
    assert [r["node"]["id"] for r in mock.run.from_task(sub["id"])] == [21, 22, 23]
    assert sorted(mock.result.from_task(sub["id"])) == [3.0, 60.0, 100.0]


def test_runs_use_wire_encoding(mock):
    task = mock.task.create({"method": "echo", "args": [1]}, organizations=[11])
    [run] = mock.run.from_task(task["id"])
    assert json.loads(base64.b64decode(run["input"])) == {"method": "echo", "args": [1]}
    assert json.loads(base64.b64decode(run["result"])) == {"args": [1], "kwargs": {}}
    assert mock.result.get(run["id"]) == {"args": [1], "kwargs": {}}
    assert mock.run.get(run["id"])["status"] == "completed"


def test_results_are_json_roundtripped(mock):
    task = mock.task.create({"method": "numpy_and_pandas"}, organizations=[11])
    [result] = mock.result.from_task(task["id"])
    assert result["int"] == 3 and result["nan"] is None and result["series"] == {"x": 1, "y": 2}


def test_data_is_copied_per_run(mock):
    original = FRAMES[0].copy()
    mock.task.create({"method": "column_sum", "kwargs": {"column": "v"}}, organizations=[11])
    pd.testing.assert_frame_equal(FRAMES[0], original)


def test_metadata_is_mocked(mock):
    task = mock.task.create({"method": "meta"}, organizations=[13])
    [meta] = mock.result.from_task(task["id"])
    assert meta["task_id"] == task["id"]
    assert (meta["organization_id"], meta["node_id"], meta["collaboration_id"]) == (13, 23, 5)


def test_client_views_and_lookups(mock):
    assert mock.organization_id == 11 and mock.node_id == 21 and mock.collaboration_id == 5
    assert [o["id"] for o in mock.organization.list()] == [11, 12, 13]
    assert mock.organization.get(12)["id"] == 12
    assert mock.collaboration.get()["id"] == 5
    assert mock.node.get()["id"] == 21
    assert mock.node.get(23)["organization"]["id"] == 13
    task = mock.task.create({"method": "client_info"}, organizations=[13])
    [info] = mock.result.from_task(task["id"])
    assert (info["organization_id"], info["node_id"]) == (13, 23)
    assert mock.datasets_per_org[12][0] is FRAMES[1]


def test_errors_propagate_by_default(mock):
    with pytest.raises(ValueError, match="kaput"):
        mock.task.create({"method": "fails", "kwargs": {"message": "kaput"}}, organizations=[11])
    assert mock.tasks[-1]["status"] == "failed"


def test_errors_recorded_when_asked():
    mock = MockAlgorithmClient([[FRAMES[0]]], "v6testalgo", raise_errors=False)
    task = mock.task.create({"method": "fails"}, organizations=[0])
    assert task["status"] == "failed"
    assert mock.wait_for_results(task["id"]) == []
    [run] = mock.run.from_task(task["id"])
    assert run["status"] == "failed" and "ValueError: boom" in run["log"]


def test_unserializable_result_fails_like_on_the_wire():
    mock = MockAlgorithmClient([[FRAMES[0]]], "v6testalgo")
    with pytest.raises(TypeError):
        mock.task.create({"method": "not_serializable"}, organizations=[0])


def test_bad_arguments():
    with pytest.raises(ValueError):
        MockAlgorithmClient([], "v6testalgo")
    with pytest.raises(ValueError):
        MockAlgorithmClient([[FRAMES[0]]], "v6testalgo", organization_ids=[1, 2])
    mock = MockAlgorithmClient([[FRAMES[0]]], "v6testalgo")
    assert mock.organization_id == 0 and mock.all_organization_ids == [0]
    with pytest.raises(ValueError, match="Unknown organization"):
        mock.task.create({"method": "echo"}, organizations=[5])
    with pytest.raises(ValueError):
        mock.task.create({"method": "echo"}, organizations=[])
    with pytest.raises(AttributeError):
        mock.task.create({"method": "_private"}, organizations=[0])
    with pytest.raises(KeyError):
        mock.task.get(99)


def test_datasets_from_files_and_labels(tmp_path):
    csv = tmp_path / "a.csv"
    FRAMES[1].to_csv(csv, index=False)
    db = tmp_path / "b.sqlite"
    conn = sqlite3.connect(db)
    FRAMES[2].to_sql("t", conn, index=False)
    conn.close()
    mock = MockAlgorithmClient(
        [
            [
                {"database": str(csv), "db_type": "csv", "label": "main"},
                {"database": str(db), "db_type": "sql", "query": "SELECT * FROM t", "label": "x"},
            ]
        ],
        module="v6testalgo",
    )
    task = mock.task.create({"method": "column_sum", "kwargs": {"column": "v"}}, organizations=[0])
    assert mock.result.from_task(task["id"]) == [60.0]
    task = mock.task.create(
        {"method": "column_sum", "kwargs": {"column": "v"}},
        organizations=[0],
        databases=[{"label": "x"}],
    )
    assert mock.result.from_task(task["id"]) == [100.0]
    with pytest.raises(ValueError, match="no database"):
        mock.task.create(
            {"method": "column_sum", "kwargs": {"column": "v"}},
            organizations=[0],
            databases=[{"label": "missing"}],
        )
