"""wrap_algorithm end to end: a real subprocess with the node's encoded environment."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.algorithm.helpers import ALGO_PKGS, DEMO_DIR, IDENTITY, REPO, vantage6_token
from vantage6_common.envcoding import encode_env_value

WRAP_CMD = [
    sys.executable,
    "-c",
    "from vantage6_algorithm.wrap import wrap_algorithm; wrap_algorithm()",
]


class Run:
    def __init__(self, proc: subprocess.CompletedProcess, output: Path) -> None:
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.output_text = output.read_text() if output.exists() else ""

    @property
    def result(self):
        return json.loads(self.output_text)


@pytest.fixture
def run_dir(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "tmp").mkdir()
    (folder / "token").write_text(vantage6_token())
    (folder / "output").write_text("")
    return folder


def run_wrapped(
    run_dir: Path,
    input_payload,
    *,
    package: str | None = "v6light",
    databases: dict[str, dict] | None = None,
    extra_env: dict[str, str] | None = None,
    encode: bool = True,
) -> Run:
    input_file = run_dir / "input"
    if isinstance(input_payload, bytes):
        input_file.write_bytes(input_payload)
    else:
        input_file.write_text(json.dumps(input_payload))
    node_env = {
        "INPUT_FILE": str(input_file),
        "OUTPUT_FILE": str(run_dir / "output"),
        "TOKEN_FILE": str(run_dir / "token"),
        "TEMPORARY_FOLDER": str(run_dir / "tmp"),
        "HOST": "http://127.0.0.1",
        "PORT": "9",
        "API_PATH": "",
    }
    databases = databases or {}
    node_env["USER_REQUESTED_DATABASE_LABELS"] = ",".join(databases)
    for label, spec in databases.items():
        for key, value in spec.items():
            node_env[f"{label.upper()}_{key}"] = str(value)
    node_env.update(extra_env or {})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "V6_"))}
    env.update({k: encode_env_value(v) if encode else v for k, v in node_env.items()})
    # plugins/: the data source loaders, as an algorithm image carries them
    env["PYTHONPATH"] = os.pathsep.join(map(str, (REPO, REPO / "plugins", ALGO_PKGS, DEMO_DIR)))
    if package is not None:
        env["PKG_NAME"] = package
    else:
        env.pop("PKG_NAME", None)
    proc = subprocess.run(
        WRAP_CMD, env=env, cwd=run_dir, capture_output=True, text=True, timeout=120
    )
    return Run(proc, run_dir / "output")


@pytest.fixture
def csv_db(tmp_path):
    path = tmp_path / "data.csv"
    pd.DataFrame({"age": [30, 40, 50, None], "w": [1.5, 2.5, 3.5, 4.5]}).to_csv(path, index=False)
    return {"DATABASE_URI": path, "DATABASE_TYPE": "csv"}


# ------------------------------------------------------------------------------------------
# success
# ------------------------------------------------------------------------------------------
def test_echo_args_and_kwargs(run_dir):
    run = run_wrapped(run_dir, {"method": "echo", "args": [1, "ü", [2.5]], "kwargs": {"k": None}})
    assert run.returncode == 0, run.stderr
    assert run.result == {"args": [1, "ü", [2.5]], "kwargs": {"k": None}}


def test_missing_args_and_kwargs_default_to_empty(run_dir):
    run = run_wrapped(run_dir, {"method": "echo"})
    assert run.returncode == 0, run.stderr
    assert run.result == {"args": [], "kwargs": {}}


def test_numpy_and_pandas_results_are_serialized(run_dir):
    run = run_wrapped(run_dir, {"method": "numpy_and_pandas"}, package="v6testalgo")
    assert run.returncode == 0, run.stderr
    assert "NaN" not in run.output_text  # strict JSON
    assert run.result == {
        "int": 3,
        "float": 0.25,
        "array": [0, 1, 2],
        "series": {"x": 1, "y": 2},
        "frame": {"columns": ["a", "b"], "index": ["x", "y"], "data": [[1, 0.5], [2, None]]},
        "nan": None,
        "bool": True,
    }
    frame = pd.DataFrame(**run.result["frame"])
    assert list(frame.index) == ["x", "y"] and frame.loc["x", "b"] == 0.5


def test_data_decorator_reads_csv(run_dir, csv_db):
    run = run_wrapped(
        run_dir,
        {"method": "column_sum", "kwargs": {"column": "w"}},
        package="v6testalgo",
        databases={"default": csv_db},
    )
    assert run.returncode == 0, run.stderr
    assert run.result == 12.0


def test_two_databases_in_requested_order(run_dir, tmp_path):
    first = tmp_path / "first.csv"
    second = tmp_path / "second.parquet"
    pd.DataFrame({"a": [1]}).to_csv(first, index=False)
    pd.DataFrame({"b": [2]}).to_parquet(second)
    run = run_wrapped(
        run_dir,
        {"method": "two_frames"},
        package="v6testalgo",
        databases={
            "one": {"DATABASE_URI": first, "DATABASE_TYPE": "csv"},
            "two": {"DATABASE_URI": second, "DATABASE_TYPE": "parquet"},
        },
    )
    assert run.returncode == 0, run.stderr
    assert run.result == {"first": ["a"], "second": ["b"]}


def test_demo_partial_through_wrapper(run_dir, csv_db):
    run = run_wrapped(
        run_dir,
        {"method": "summary_partial", "kwargs": {"columns": ["age"]}},
        package="v6demo",
        databases={"default": csv_db},
    )
    assert run.returncode == 0, run.stderr
    stats = run.result["columns"]["age"]
    assert stats["count"] == 3 and stats["sum"] == 120.0 and stats["m2"] == 200.0
    assert (stats["min"], stats["max"]) == (30.0, 50.0)


def test_metadata_from_token_and_environment(run_dir):
    run = run_wrapped(run_dir, {"method": "meta"}, package="v6testalgo")
    assert run.returncode == 0, run.stderr
    assert run.result == {
        "task_id": IDENTITY["task_id"],
        "node_id": IDENTITY["node_id"],
        "collaboration_id": IDENTITY["collaboration_id"],
        "organization_id": IDENTITY["organization_id"],
        "temporary_directory": str(run_dir / "tmp"),
        "output_file": str(run_dir / "output"),
        "input_file": str(run_dir / "input"),
        "token_file": str(run_dir / "token"),
    }


def test_algorithm_client_from_environment(run_dir):
    run = run_wrapped(run_dir, {"method": "client_info"}, package="v6testalgo")
    assert run.returncode == 0, run.stderr
    assert run.result == {
        "base_path": "http://127.0.0.1:9",
        "node_id": 7,
        "organization_id": 3,
        "collaboration_id": 2,
        "image": IDENTITY["image"],
        "databases": IDENTITY["databases"],
    }


def test_unencoded_environment_is_accepted(run_dir):
    run = run_wrapped(run_dir, {"method": "echo", "args": [1]}, encode=False)
    assert run.returncode == 0, run.stderr
    assert run.result["args"] == [1]


def test_legacy_json_marker_is_accepted(run_dir):
    payload = b"json." + json.dumps({"method": "echo", "args": [5]}).encode()
    run = run_wrapped(run_dir, payload)
    assert run.returncode == 0, run.stderr
    assert run.result["args"] == [5]


# ------------------------------------------------------------------------------------------
# errors: exit status 1 (or the algorithm's own), a clear message on stderr, no output
# ------------------------------------------------------------------------------------------
def _assert_failed(run: Run, *fragments: str, code: int = 1) -> None:
    assert run.returncode == code, (run.stdout, run.stderr)
    assert run.output_text == ""
    for fragment in fragments:
        assert fragment in run.stderr, run.stderr


def test_algorithm_exception(run_dir):
    run = run_wrapped(run_dir, {"method": "fails", "kwargs": {"message": "bad column"}})
    _assert_failed(run, "error > fails failed: ValueError: bad column", "Traceback")


def test_system_exit_in_algorithm_keeps_its_status(run_dir):
    run = run_wrapped(run_dir, {"method": "exits_early"})
    _assert_failed(run, "exits_early exited", code=3)


def test_unknown_method(run_dir):
    _assert_failed(run_wrapped(run_dir, {"method": "nope"}), "has no function 'nope'")


def test_private_and_non_callable_names_are_refused(run_dir):
    _assert_failed(run_wrapped(run_dir, {"method": "_secret"}), "private")
    _assert_failed(run_wrapped(run_dir, {"method": "SECRET"}), "has no function 'SECRET'")
    _assert_failed(run_wrapped(run_dir, {"method": "json"}), "has no function 'json'")


def test_invalid_json_input(run_dir):
    _assert_failed(run_wrapped(run_dir, b"{not json"), "not valid JSON")


@pytest.mark.parametrize(
    "payload,fragment",
    [
        ([1, 2], "JSON object"),
        ({"args": []}, "no 'method'"),
        ({"method": "echo", "args": {"a": 1}}, "'args'"),
        ({"method": "echo", "kwargs": [1]}, "'kwargs'"),
    ],
)
def test_malformed_input(run_dir, payload, fragment):
    _assert_failed(run_wrapped(run_dir, payload), fragment)


def test_pickled_input_is_refused(run_dir):
    payload = pickle.dumps({"method": "echo"})
    _assert_failed(run_wrapped(run_dir, payload), "pickled")
    _assert_failed(run_wrapped(run_dir, b"pickle." + payload), "pickled")


def test_result_not_serializable(run_dir):
    _assert_failed(run_wrapped(run_dir, {"method": "not_serializable"}), "cannot be written")


def test_missing_package_name(run_dir):
    _assert_failed(run_wrapped(run_dir, {"method": "echo"}, package=None), "PKG_NAME")


def test_package_not_importable(run_dir):
    run = run_wrapped(run_dir, {"method": "echo"}, package="no_such_algorithm_pkg")
    _assert_failed(run, "cannot be imported")


def test_missing_database(run_dir):
    run = run_wrapped(
        run_dir, {"method": "column_sum", "kwargs": {"column": "w"}}, package="v6testalgo"
    )
    _assert_failed(run, "needs 1 database(s)")


def test_missing_input_file(run_dir):
    run = run_wrapped(
        run_dir, {"method": "echo"}, extra_env={"INPUT_FILE": str(run_dir / "absent")}
    )
    _assert_failed(run, "Could not read the input file")
