"""A researcher's first tasks from the command line (issue 12, item 3; item 2's pull default),
against a real server and a real node that runs the demo image with podman."""

from __future__ import annotations

import json
import statistics
import subprocess

import pytest

from tests.cli.conftest import run_v6
from tests.cli.federation import AGES, PARQUET_AGES, SQL_AGES, start_federation, stop_federation

pytestmark = pytest.mark.containers

DEMO = "localhost/v6-demo:latest"


@pytest.fixture(scope="module")
def fed(tmp_path_factory):
    federation = start_federation(tmp_path_factory.mktemp("first-tasks"))
    yield federation
    stop_federation(federation)


def test_ids_are_listed(fed):
    collabs = fed.v6("collaboration", "list", "--json")
    assert collabs.returncode == 0, collabs.stderr
    assert json.loads(collabs.stdout) == [
        {
            "id": fed.collaboration,
            "name": "Study",
            "encrypted": False,
            "organizations": [fed.organization],
        }
    ]
    orgs = json.loads(fed.v6("organization", "list", "--json").stdout)
    assert [(o["id"], o["name"], o["yours"]) for o in orgs] == [(fed.organization, "Clinic", True)]
    table = fed.v6("collaboration", "list")
    assert "Study" in table.stdout


def test_no_database_is_refused_before_a_task_exists(fed):
    result = fed.v6("task", "create", "-i", DEMO, "-m", "summary")
    assert result.returncode == 2, result.stderr
    assert "--database" in result.stderr and "default, records, visits" in result.stderr
    assert json.loads(fed.v6("task", "list", "--json").stdout) == []


def test_first_task_runs_on_a_localhost_image_with_the_default_node(fed):
    """No --collaboration (the user has one), the node made with ``v6 node new``'s defaults
    (its pull default must not fail on a localhost/ image)."""
    result = fed.v6(
        "task",
        "create",
        "-i",
        DEMO,
        "-m",
        "summary",
        "--kwarg",
        'columns=["age"]',
        "-d",
        "default",
        "--wait",
        "--timeout",
        "300",
        "--json",
        timeout=400,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "your only one" in result.stderr
    age = json.loads(result.stdout)["results"][0]["result"]["age"]
    assert age["count"] == len(AGES)
    assert age["mean"] == pytest.approx(statistics.mean(AGES))


def test_an_sql_database_with_a_query(fed):
    result = fed.v6(
        "task",
        "create",
        "-i",
        DEMO,
        "-m",
        "summary",
        "--kwarg",
        'columns=["age"]',
        "-d",
        "records",
        "--query",
        "SELECT age FROM patients WHERE age > 25",
        "--wait",
        "--timeout",
        "300",
        "--json",
        timeout=400,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    age = json.loads(result.stdout)["results"][0]["result"]["age"]
    wanted = [a for a in SQL_AGES if a > 25]
    assert age["count"] == len(wanted) and age["mean"] == pytest.approx(statistics.mean(wanted))
    bad = fed.v6("task", "create", "-i", DEMO, "-m", "x", "-d", "a", "-d", "b", "--query", "q")
    assert bad.returncode == 2 and "one --database" in bad.stderr


def test_parquet_with_the_demo_image_and_a_new_algorithm(fed, tmp_path):
    """Parquet (item 4): the demo image and an image from the algorithm template read it."""
    ran = fed.v6(
        "task",
        "create",
        "-i",
        DEMO,
        "-m",
        "summary",
        "--kwarg",
        'columns=["age"]',
        "-d",
        "visits",
        "--wait",
        "--timeout",
        "300",
        "--json",
        timeout=400,
    )
    assert ran.returncode == 0, ran.stderr + ran.stdout
    assert json.loads(ran.stdout)["results"][0]["result"]["age"]["count"] == len(PARQUET_AGES)

    target = tmp_path / "parquet-average"
    made = run_v6(fed.env, "algorithm", "create", "parquet-average", "--directory", target)
    assert made.returncode == 0, made.stderr
    built = run_v6(fed.env, "algorithm", "build", target, "--json", timeout=900)
    assert built.returncode == 0, built.stderr
    image = json.loads(built.stdout)["image"]
    try:
        mine = fed.v6(
            "task",
            "create",
            "-i",
            image,
            "-m",
            "central_average",
            "--kwarg",
            "column=age",
            "-d",
            "visits",
            "--wait",
            "--timeout",
            "300",
            "--json",
            timeout=400,
        )
        assert mine.returncode == 0, mine.stderr + mine.stdout
        result = json.loads(mine.stdout)["results"][0]["result"]
        assert result["count"] == len(PARQUET_AGES)
        assert result["mean"] == pytest.approx(statistics.mean(PARQUET_AGES))
    finally:
        subprocess.run(["podman", "rmi", "-f", image], capture_output=True, env=fed.env.environ())
