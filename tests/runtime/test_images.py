"""The locally built images: contents, the algorithm interface, and rebuild-on-change."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from containers.images import (
    BASE_IMAGE,
    DEMO_IMAGE,
    INPUTS_LABEL,
    PUBLISHED_TOOLS_IMAGE,
    ImageBuilder,
)
from vantage6_common.envcoding import encode_env_value
from vantage6_node.runtime import ContainerRuntime, Mount, RunSpec, load_runtime

pytestmark = pytest.mark.containers

DATA = "age,weight\n30,70.5\n40,80\n50,65.5\n"


@pytest.fixture(scope="module")
def podman(v6_images: dict[str, str]) -> ContainerRuntime:
    return load_runtime("podman")


def _algorithm_run(
    rt: ContainerRuntime, image: str, tmp_path: Path, payload: dict, encode: bool = True
) -> tuple[int, object, str]:
    """Run an algorithm image the way a node does: files mounted, env encoded, no network."""
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "input").write_text(json.dumps(payload))
    (folder / "output").write_bytes(b"")
    (folder / "token").write_text("not-a-real-token")
    (folder / "tmp").mkdir()
    db = tmp_path / "db.csv"
    db.write_text(DATA)
    env = {
        "INPUT_FILE": "/mnt/run/input",
        "OUTPUT_FILE": "/mnt/run/output",
        "TOKEN_FILE": "/mnt/run/token",
        "TEMPORARY_FOLDER": "/mnt/tmp",
        "HOST": "http://127.0.0.1",
        "PORT": "7601",
        "API_PATH": "",
        "USER_REQUESTED_DATABASE_LABELS": "default",
        "DEFAULT_DATABASE_URI": "/mnt/data/db.csv",
        "DEFAULT_DATABASE_TYPE": "csv",
    }
    if encode:
        env = {key: encode_env_value(value) for key, value in env.items()}
    spec = RunSpec(
        image,
        env=env,
        mounts=[
            Mount(str(folder / "input"), "/mnt/run/input"),
            Mount(str(folder / "output"), "/mnt/run/output", read_only=False),
            Mount(str(folder / "token"), "/mnt/run/token"),
            Mount(str(folder / "tmp"), "/mnt/tmp", read_only=False),
            Mount(str(db), "/mnt/data/db.csv"),
        ],
        labels={"v6next.test": "images"},
    )
    done = rt.run_to_completion(spec, timeout=120)
    raw = (folder / "output").read_text()
    return done.exit_code, (json.loads(raw) if raw else None), done.logs


def test_all_images_present_and_labeled(podman: ContainerRuntime) -> None:
    builder = ImageBuilder()
    for image in (BASE_IMAGE, DEMO_IMAGE, PUBLISHED_TOOLS_IMAGE):
        info = podman.image_info(image)
        assert info is not None, image
        assert info.labels.get(INPUTS_LABEL), image
    assert podman.image_info(BASE_IMAGE).labels[INPUTS_LABEL] == builder.base_inputs()


def test_base_image_contents(podman: ContainerRuntime) -> None:
    code = (
        "import sys, numpy, pandas, requests; "
        "print(sys.version_info[:2], pandas.__version__, numpy.__version__)"
    )
    done = podman.run_to_completion(RunSpec(BASE_IMAGE, ["python", "-c", code]), timeout=60)
    assert done.exit_code == 0, done.logs
    assert done.logs.startswith("(3, 11)")


def test_published_tools_echo_and_environment(podman: ContainerRuntime, tmp_path: Path) -> None:
    code, output, logs = _algorithm_run(
        podman, PUBLISHED_TOOLS_IMAGE, tmp_path, {"method": "echo", "kwargs": {"value": [1, "a"]}}
    )
    assert code == 0, logs
    assert output == {"echo": [1, "a"]}


def test_published_tools_data_decorator(podman: ContainerRuntime, tmp_path: Path) -> None:
    payload = {"method": "partial_stats", "kwargs": {"column": "weight"}}
    code, output, logs = _algorithm_run(podman, PUBLISHED_TOOLS_IMAGE, tmp_path, payload)
    assert code == 0, logs
    assert output == {"count": 3, "sum": 216.0, "sum_sq": 70.5**2 + 80**2 + 65.5**2}


def test_published_tools_failure_exits_non_zero(podman: ContainerRuntime, tmp_path: Path) -> None:
    payload = {"method": "fail", "kwargs": {"message": "boom"}}
    code, _, logs = _algorithm_run(podman, PUBLISHED_TOOLS_IMAGE, tmp_path, payload)
    assert code != 0
    assert "boom" in logs


def test_demo_image_summary_partial(podman: ContainerRuntime, tmp_path: Path) -> None:
    payload = {"method": "summary_partial", "kwargs": {"columns": ["age"]}}
    code, output, logs = _algorithm_run(podman, DEMO_IMAGE, tmp_path, payload)
    assert code == 0, logs
    assert output["n_rows"] == 3
    age = output["columns"]["age"]
    assert (age["count"], age["sum"], age["min"], age["max"]) == (3, 120.0, 30.0, 50.0)


def test_rebuild_when_inputs_change(podman: ContainerRuntime, tmp_path: Path) -> None:
    """An image is rebuilt exactly when a file copied into it or its Containerfile changes."""
    repo = tmp_path / "repo"
    (repo / "containers").mkdir(parents=True)
    containerfile = repo / "containers" / "Containerfile.rebuild-check"
    containerfile.write_text(
        f'FROM {BASE_IMAGE}\nCOPY payload.txt /payload.txt\nCMD ["cat", "/payload.txt"]\n'
    )
    payload = tmp_path / "payload.txt"
    image = "localhost/v6-test-rebuild:latest"
    builder = ImageBuilder(repo_root=repo, log=lambda line: None)

    def fill(context: Path) -> dict[str, float]:
        shutil.copy(payload, context / "payload.txt")
        return {}

    def build():
        return builder.build_from_context("rebuild-check", image, fill, force=False)

    try:
        payload.write_text("one\n")
        first = build()
        assert first.built
        assert builder.image_inputs(image) == first.inputs
        assert not build().built  # nothing changed

        payload.write_text("two\n")
        second = build()
        assert second.built and second.inputs != first.inputs
        done = podman.run_to_completion(RunSpec(image), timeout=60)
        assert done.logs.strip() == "two"

        containerfile.write_text(containerfile.read_text() + "LABEL extra=1\n")
        assert build().built
        assert not build().built
        assert builder.build_from_context("rebuild-check", image, fill, force=True).built
    finally:
        podman.remove_image(image, force=True)


def test_cli_status_lists_images(v6_images: dict[str, str]) -> None:
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-m", "containers.images", "status"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    for image in (BASE_IMAGE, DEMO_IMAGE, PUBLISHED_TOOLS_IMAGE):
        assert image in proc.stdout
