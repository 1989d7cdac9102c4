"""An unmodified vantage6 4.x algorithm (published algorithm tools) on our node, with podman."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from tests.node.conftest import make_datasets
from tests.node.harness import Federation, image_present
from tests.published import published_python

pytestmark = [pytest.mark.containers, pytest.mark.timeout(600)]

PUBLISHED_IMAGE = "localhost/v6-published-tools:latest"


@pytest.fixture(scope="module")
def published_image(podman_images):
    if not image_present(PUBLISHED_IMAGE):
        pytest.skip(f"{PUBLISHED_IMAGE} missing (python -m containers.images build)")
    return PUBLISHED_IMAGE


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_published_algorithm_central_and_partials(
    published_image, live_server, root_api, tmp_path, encrypted
):
    datasets = make_datasets(2, seed=11)
    fed = Federation(live_server, root_api, tmp_path, datasets, encrypted=encrypted)
    try:
        fed.start()
        first = fed.stations[0]
        task = fed.create_task(
            {"method": "central_mean", "kwargs": {"column": "age"}},
            [first.org_id],
            image=published_image,
        )
        assert fed.wait_task(task["id"]) == "completed", (fed.runs(task["id"]), fed.logs())
        (result,) = fed.results(task["id"])
        pooled = pd.concat(datasets, ignore_index=True)["age"]
        assert result["count"] == len(pooled)
        assert math.isclose(result["mean"], pooled.mean(), rel_tol=1e-12)
        assert result["organizations"] == sorted(s.org_id for s in fed.stations)

        task = fed.create_task({"method": "environment"}, [first.org_id], image=published_image)
        assert fed.wait_task(task["id"]) == "completed"
        (env,) = fed.results(task["id"])
        assert env["pkg_name"] == "published_tools_algo"
        assert env["databases"] == "default"
        assert len(env["present"]) == 8

        task = fed.create_task(
            {"method": "fail", "kwargs": {"message": "as asked"}},
            [first.org_id],
            image=published_image,
        )
        assert fed.wait_task(task["id"]) == "crashed"
        assert "as asked" in fed.runs(task["id"])[0]["log"]
    finally:
        fed.stop()


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_published_client_task_on_published_algorithm(
    published_image, live_server, root_api, tmp_path, encrypted
):
    """The published client creates the task, our nodes run the published-tools image, and the
    published client waits for and decrypts the result."""
    import json
    import subprocess
    from pathlib import Path

    from tests.node.harness import PASSWORD

    python = published_python()
    datasets = make_datasets(2, seed=5)
    fed = Federation(live_server, root_api, tmp_path, datasets, encrypted=encrypted)
    try:
        fed.start()
        first = fed.stations[0]
        key = str(first.private_key) if encrypted else "-"
        done = subprocess.run(
            [
                str(python),
                str(Path(__file__).parent / "published_client_task.py"),
                "http://127.0.0.1",
                str(live_server.port),
                fed.researcher_username,
                PASSWORD,
                key,
                str(fed.collaboration_id),
                str(first.org_id),
                published_image,
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-4000:], fed.logs())
        report = json.loads(done.stdout.strip().splitlines()[-1])
        (result,) = report["results"]
        result = json.loads(result) if isinstance(result, str) else result  # 4.14 gives JSON text
        pooled = pd.concat(datasets, ignore_index=True)["age"]
        assert result["count"] == len(pooled)
        assert math.isclose(result["mean"], pooled.mean(), rel_tol=1e-12)
    finally:
        fed.stop()
