"""Issue 8 item 7: database labels become environment variable names (CVE-2024-21649 class).

The server refuses a bad label on ``POST /task`` (400); a bad label that reaches a node by
another path (here: written into the database behind the server's back, as a vantage6 4.x
server that does not check would hand it out) fails the run cleanly, without starting a
container.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, update
from sqlalchemy.orm import Session

from tests.node.conftest import make_datasets
from tests.node.harness import Federation
from tests.security.node_fixtures import evil_image, raw_results  # noqa: F401 - fixture
from vantage6_server.db import models as m

BAD_LABELS = [
    "host=evil",
    "HOST=http://evil.example",
    "default\n",
    "a b",
    "",
    "1abc",
    "_x",
    "défault",
    "x" * 65,
    "a;b",
    "a\0b",
    123,
    None,
]


@pytest.fixture(scope="module")
def node_fed(evil_image, live_server, root_api, tmp_path_factory):  # noqa: F811
    """One station; its node is started by the test that needs it."""
    federation = Federation(
        live_server, root_api, tmp_path_factory.mktemp("labels-node"), make_datasets(1)
    )
    yield federation
    federation.stop()


def _task_body(fed: Federation, databases: list) -> dict:
    station = fed.stations[0]
    return {
        "name": "label test",
        "image": "localhost/v6-evil:latest",
        "collaboration_id": fed.collaboration_id,
        "organizations": [{"id": station.org_id, "input": fed.encode_input(station.org_id, {})}],
        "databases": databases,
    }


@pytest.mark.parametrize("label", BAD_LABELS, ids=repr)
def test_server_refuses_a_bad_label(node_fed, label):
    response = node_fed.researcher.request(
        "POST", "/task", json=_task_body(node_fed, [{"label": "default"}, {"label": label}])
    )
    assert response.status_code == 400, response.text
    assert "databases" in response.json().get("errors", {}), response.text


@pytest.mark.parametrize("label", ["default", "my_db", "DB2", "x" * 64])
def test_server_accepts_good_labels(node_fed, label):
    response = node_fed.researcher.request(
        "POST", "/task", json=_task_body(node_fed, [{"label": label, "query": "q"}])
    )
    assert response.status_code == 201, response.text


def test_node_refuses_a_bad_label_from_the_server(node_fed, live_server):
    """The run fails with a clear log and no container starts; ``HOST`` stays the node's."""
    fed = node_fed
    task = fed.create_task({"method": "env"}, image="localhost/v6-evil:latest")
    bad = [
        {"label": "default", "parameters": {}},
        {"label": "host=evil", "parameters": {"query": "injected"}},
    ]
    engine = create_engine(live_server.database_uri)
    try:
        with Session(engine) as session:
            session.execute(update(m.Task).where(m.Task.id == task["id"]).values(databases=bad))
            session.commit()
    finally:
        engine.dispose()
    fed.start()  # the node learns of the run only now, from the server's database
    (run,) = fed.wait_runs_settled(task["id"])
    assert run["status"] == "failed", run["log"]
    assert "database label 'host=evil'" in run["log"], run["log"]
    assert "algorithm started" not in run["log"]  # no container ran
    assert raw_results(fed, task["id"]) == [b""]
    # the node goes on: a task with good labels runs and sees the node's HOST
    task = fed.create_task({"method": "env"}, image="localhost/v6-evil:latest")
    (run,) = fed.wait_runs_settled(task["id"])
    assert run["status"] == "completed", run["log"]
    (result,) = raw_results(fed, task["id"])
    assert json.loads(result)["HOST"] == "http://127.0.0.1"
