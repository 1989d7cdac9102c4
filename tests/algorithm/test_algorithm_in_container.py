"""The algorithm tools and the demo on the real algorithm base image (Debian's pandas/numpy).

Needs podman and the base image built by ``python -m containers.images build``; skipped
otherwise. The source tree is mounted read-only, the container has no network.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from tests.algorithm.helpers import IDENTITY, vantage6_token
from tests.algorithm.test_demo_algorithms import (
    assert_summary_matches,
    close,
    make_frames,
    pooled_logistic,
    pooled_ols,
)
from vantage6_common.envcoding import encode_env_value

pytestmark = pytest.mark.containers

REPO = Path(__file__).resolve().parents[2]
BASE_IMAGE = os.environ.get("V6_ALGORITHM_BASE_IMAGE", "localhost/v6-base:latest")
SRC = "/src"
# plugins/: the data source loaders (vantage6_datasource_*), found there by package name
PYTHONPATH = f"{SRC}:{SRC}/plugins:{SRC}/algorithms/demo:{SRC}/tests/algorithm/algo_pkgs"


@pytest.fixture(scope="module")
def podman():
    exe = shutil.which("podman")
    if exe is None:
        pytest.skip("podman is not installed")
    os.environ.setdefault("CONTAINERS_CONF", str(REPO / "containers" / "containers.conf"))
    probe = subprocess.run(
        [exe, "image", "exists", BASE_IMAGE], capture_output=True, text=True, timeout=120
    )
    if probe.returncode != 0:
        pytest.skip(f"{BASE_IMAGE} not built (python -m containers.images build)")
    return exe


def podman_run(podman, mounts: dict[Path, str], env: dict[str, str], argv: list[str]):
    cmd = [podman, "run", "--rm", "--network", "none", "-v", f"{REPO}:{SRC}:ro"]
    for host, target in mounts.items():
        cmd += ["-v", f"{host}:{target}"]
    for key, value in env.items():
        cmd += ["-e", f"{key}={value}"]
    cmd += [BASE_IMAGE, *argv]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


@pytest.fixture
def run_folder(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "token").write_text(vantage6_token())
    (folder / "output").write_text("")
    (folder / "tmp").mkdir()
    return folder


def wrap_in_container(podman, run_folder: Path, data_dir: Path, package: str, task_input):
    (run_folder / "input").write_text(json.dumps(task_input))
    node_env = {
        "INPUT_FILE": "/mnt/run/input",
        "OUTPUT_FILE": "/mnt/run/output",
        "TOKEN_FILE": "/mnt/run/token",
        "TEMPORARY_FOLDER": "/mnt/run/tmp",
        "HOST": "http://proxy",
        "PORT": "80",
        "API_PATH": "",
        "USER_REQUESTED_DATABASE_LABELS": "default",
        "DEFAULT_DATABASE_URI": "/mnt/data/site.csv",
        "DEFAULT_DATABASE_TYPE": "csv",
    }
    env = {k: encode_env_value(v) for k, v in node_env.items()}
    env.update({"PKG_NAME": package, "PYTHONPATH": PYTHONPATH})
    argv = ["python3", "-c", "from vantage6_algorithm.wrap import wrap_algorithm; wrap_algorithm()"]
    proc = podman_run(podman, {run_folder: "/mnt/run", data_dir: "/mnt/data:ro"}, env, argv)
    return proc, (run_folder / "output").read_text()


def test_wrap_runs_demo_partial_on_base_image(podman, run_folder, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    frame = make_frames()[1]
    frame.to_csv(data_dir / "site.csv", index=False)
    proc, output = wrap_in_container(
        podman,
        run_folder,
        data_dir,
        "v6demo",
        {"method": "summary_partial", "kwargs": {"columns": ["age", "bmi"]}},
    )
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(output)["columns"]
    local = pd.read_csv(data_dir / "site.csv")
    assert stats["age"]["count"] == len(local)
    assert close(stats["age"]["sum"], local["age"].sum())
    assert stats["bmi"]["count"] == local["bmi"].count()


def test_wrap_serializes_pandas_and_reports_errors_on_base_image(podman, run_folder, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    pd.DataFrame({"w": [1, 2]}).to_csv(data_dir / "site.csv", index=False)
    proc, output = wrap_in_container(
        podman, run_folder, data_dir, "v6testalgo", {"method": "numpy_and_pandas"}
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(output)
    assert result["frame"] == {
        "columns": ["a", "b"],
        "index": ["x", "y"],
        "data": [[1, 0.5], [2, None]],
    }
    assert result["series"] == {"x": 1, "y": 2} and result["nan"] is None

    proc, _ = wrap_in_container(podman, run_folder, data_dir, "v6testalgo", {"method": "meta"})
    assert proc.returncode == 0, proc.stderr
    assert json.loads((run_folder / "output").read_text())["task_id"] == IDENTITY["task_id"]

    (run_folder / "output").write_text("")
    proc, output = wrap_in_container(
        podman, run_folder, data_dir, "v6testalgo", {"method": "fails", "args": ["oops"]}
    )
    assert proc.returncode == 1 and output == ""
    assert "fails failed: ValueError: oops" in proc.stderr


_MOCK_SCRIPT = textwrap.dedent(
    """
    import json
    from vantage6_algorithm.mock_client import MockAlgorithmClient
    sites = [[{"database": f"/mnt/data/site{k}.csv", "db_type": "csv"}] for k in range(4)]
    client = MockAlgorithmClient(sites, module="v6demo")
    out = {}
    for name, kwargs in [
        ("summary", {}),
        ("linear_regression", {"predictors": ["age", "bmi", "smoker"], "outcome": "y"}),
        ("logistic_regression", {"predictors": ["age", "bmi"], "outcome": "event"}),
    ]:
        task = client.task.create({"method": name, "kwargs": kwargs}, organizations=[0])
        out[name] = client.wait_for_results(task["id"])[0]
    print(json.dumps(out))
    """
)


def test_demo_equals_pooled_results_on_base_image(podman, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    for k, frame in enumerate(make_frames()):
        frame.to_csv(data_dir / f"site{k}.csv", index=False)
    proc = podman_run(
        podman,
        {data_dir: "/mnt/data:ro"},
        {"PYTHONPATH": PYTHONPATH},
        ["python3", "-c", _MOCK_SCRIPT],
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    pooled = pd.concat([pd.read_csv(data_dir / f"site{k}.csv") for k in range(4)])

    assert_summary_matches(out["summary"], pooled, ["age", "bmi", "y", "event", "visits"])

    beta, se, n, r2, _ = pooled_ols(pooled, ["age", "bmi", "smoker"], "y", True)
    linear = out["linear_regression"]
    assert all(close(v, b) for v, b in zip(linear["coefficients"].values(), beta, strict=True))
    assert all(close(v, s) for v, s in zip(linear["standard_errors"].values(), se, strict=True))
    assert linear["n"] == n and close(linear["r_squared"], r2)

    beta, *_ = pooled_logistic(pooled, ["age", "bmi"], "event")
    logistic = out["logistic_regression"]
    assert logistic["converged"]
    assert all(close(v, b) for v, b in zip(logistic["coefficients"].values(), beta, strict=True))
