"""``v6 sandbox``: up (server, store, nodes, demo analysis), tasks through ``v6 task
--algorithm`` (the nodes trust only the sandbox's store), an algorithm from ``v6 algorithm
create`` submitted, approved and run through the store, and down leaving nothing behind."""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import time
from pathlib import Path

import pytest

from tests.cli.conftest import REPO, Env, run_v6
from vantage6_cli.sandbox import DEMO_IMAGE, demo_rows

NODES = 2
ALGORITHM = "sandbox-average"
ALGORITHM_IMAGE = f"localhost/{ALGORITHM}:latest"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def podman(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ}
    env.setdefault("CONTAINERS_CONF", str(REPO / "containers" / "containers.conf"))
    return subprocess.run(["podman", *args], capture_output=True, text=True, env=env)


def pooled(column: str) -> list[float]:
    values = []
    for seed in range(1, NODES + 1):
        values += [row[column] for row in demo_rows(seed, 60 + 25 * seed)]
    return values


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed")
    env = Env(tmp_path_factory.mktemp("sandbox"))
    started = time.monotonic()
    up = run_v6(
        env, "sandbox", "up", "--nodes", NODES, "--port", free_port(), "--json", timeout=1800
    )
    seconds = time.monotonic() - started
    if up.returncode != 0:
        run_v6(env, "sandbox", "down", "--purge")
        pytest.fail(f"sandbox up failed ({up.returncode}):\n{up.stderr[-5000:]}")
    facts = json.loads(up.stdout)
    facts["up_seconds"] = seconds
    yield env, facts
    run_v6(env, "sandbox", "down", "--purge")  # in case a test failed before down
    podman("rmi", "-f", ALGORITHM_IMAGE)


def login(facts) -> dict[str, str]:
    return {
        "V6_SERVER_URL": facts["api_url"],
        "V6_USERNAME": facts["username"],
        "V6_PASSWORD": facts["password"],
    }


def root_login(env: Env, facts) -> dict[str, str]:
    password = env.user_data / "sandbox" / "sandbox" / "server" / "root-password"
    return {
        "V6_SERVER_URL": facts["api_url"],
        "V6_USERNAME": "root",
        "V6_PASSWORD": password.read_text().strip(),
    }


@pytest.mark.containers
@pytest.mark.timeout(3600)  # the first use may build the images (debootstrap)
def test_up_runs_the_demo_analysis(box):
    env, facts = box
    demo = facts["demo"]
    assert demo["status"] == "completed", demo
    # inputs and results are blobs in the sandbox's folder: the demo task's and those of its
    # subtask on every node
    blobs = env.user_data / "sandbox" / "sandbox" / "server" / "blobs"
    assert len([p for p in blobs.iterdir() if p.is_file()]) >= 2 + 2 * NODES
    result = demo["result"]
    for column in ("age", "bmi", "systolic_bp"):
        values = pooled(column)
        assert result[column]["count"] == len(values)
        assert result[column]["mean"] == pytest.approx(statistics.mean(values), rel=1e-12)
        assert result[column]["std"] == pytest.approx(statistics.stdev(values), rel=1e-9)
    assert len(facts["nodes"]) == NODES
    print(f"\nsandbox up took {facts['up_seconds']:.1f} s (demo task {demo['seconds']} s)")


@pytest.mark.containers
def test_the_demo_algorithm_is_approved_in_the_sandbox_store(box):
    env, facts = box
    store = facts["store"]
    listed = run_v6(env, "store", "algorithm", "list", "--json", **login(facts))
    assert listed.returncode == 0, listed.stderr
    approved = json.loads(listed.stdout)
    assert [(a["name"], a["image"], a["status"]) for a in approved] == [
        ("v6demo", DEMO_IMAGE, "approved")
    ]
    history = run_v6(
        env, "store", "algorithm", "history", store["algorithm_id"], "--json", **login(facts)
    )
    steps = [(e["to_status"], e["username"]) for e in json.loads(history.stdout)]
    assert steps[-1] == ("approved", "root") and ("under review", "root") in steps
    coupled = json.loads(run_v6(env, "store", "coupled", "--json", **login(facts)).stdout)
    assert [(c["id"], c["url"]) for c in coupled] == [(store["coupling_id"], store["url"])]
    node_config = (env.user_config / "sandbox" / "sandbox" / "node1.yaml").read_text()
    assert f"- {store['url']}" in node_config  # allowed_algorithm_stores


@pytest.mark.containers
def test_up_again_and_status(box):
    env, facts = box
    again = run_v6(env, "sandbox", "up", "--nodes", NODES, "--no-demo", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["api_url"] == facts["api_url"]
    other = run_v6(env, "sandbox", "up", "--nodes", NODES + 1, "--no-demo")
    assert other.returncode == 5 and "down --purge" in other.stderr
    status = json.loads(run_v6(env, "sandbox", "status", "--json").stdout)
    parts = {p["name"]: p for p in status["processes"]}
    assert set(parts) == {"server", "store"} | {f"node{i}" for i in range(1, NODES + 1)}
    assert all(p["status"] == "running" for p in parts.values())
    assert all(parts[f"node{i}"]["detail"] == "online" for i in range(1, NODES + 1))
    table = run_v6(env, "sandbox", "status")
    assert "online" in table.stdout and "running" in table.stdout


@pytest.mark.containers
def test_a_task_through_the_cli(box):
    env, facts = box
    created = run_v6(
        env,
        "task",
        "create",
        "--algorithm",
        "v6demo",
        "--function",
        "summary",
        "--arg",
        "columns=bmi",
        "--json",
        **login(facts),
    )
    assert created.returncode == 0, created.stderr
    task_id = json.loads(created.stdout)["id"]
    waited = run_v6(env, "task", "wait", task_id, "--timeout", "300", **login(facts))
    assert waited.returncode == 0, waited.stderr
    assert "completed" in waited.stderr
    results = json.loads(run_v6(env, "task", "result", task_id, "--json", **login(facts)).stdout)
    assert results[0]["result"]["bmi"]["count"] == len(pooled("bmi"))
    # checked against the store before anything is created
    wrong = run_v6(
        env, "task", "create", "--algorithm", "v6demo", "--function", "summary", "--arg",
        "colums=bmi", **login(facts),
    )  # fmt: skip
    assert wrong.returncode == 2 and "no such argument" in wrong.stderr
    # the same image, not from the store: the nodes trust only the store
    direct = run_v6(
        env, "task", "create", "--collaboration", facts["collaboration_id"], "--image",
        DEMO_IMAGE, "--method", "summary", "--database", "default", "--wait", "--timeout",
        "300", "--json", **login(facts),
    )  # fmt: skip
    assert direct.returncode == 8, direct.stderr
    assert {r["status"] for r in json.loads(direct.stdout)["runs"]} == {"not allowed"}


@pytest.mark.containers
def test_a_new_algorithm_builds_and_runs_in_the_sandbox(box, tmp_path):
    env, facts = box
    target = tmp_path / ALGORITHM
    assert run_v6(env, "algorithm", "create", ALGORITHM, "--directory", target).returncode == 0
    own_tests = subprocess.run(
        [str(Path(os.sys.executable)), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=target,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert own_tests.returncode == 0, own_tests.stdout
    built = run_v6(env, "algorithm", "build", target, "--json", timeout=900)
    assert built.returncode == 0, built.stderr
    assert json.loads(built.stdout)["image"] == ALGORITHM_IMAGE
    # the researcher submits it (a store Developer), root reviews and approves it
    submitted = run_v6(
        env, "store", "algorithm", "submit", "--no-input", "--json", "--name", ALGORITHM,
        "--image", ALGORITHM_IMAGE, "--code-url", "https://example.org/average",
        "--function", "central_average:central", "--argument", "central_average.column:column",
        "--argument", "central_average.organizations:organization_list=[]",
        "--database", "central_average.default", "--function", "partial_average",
        "--argument", "partial_average.column:column", **login(facts),
    )  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr
    algorithm_id = json.loads(submitted.stdout)["id"]
    root = root_login(env, facts)
    assigned = run_v6(env, "store", "review", "assign", algorithm_id, "--reviewer", "root", **root)
    assert assigned.returncode == 0, assigned.stderr
    approved = run_v6(
        env, "store", "review", "approve", "--algorithm", algorithm_id, "--json", **root
    )
    assert json.loads(approved.stdout)["algorithm_status"] == "approved", approved.stderr
    ran = run_v6(
        env,
        "task",
        "create",
        "--algorithm",
        ALGORITHM,
        "--function",
        "central_average",
        "--arg",
        "column=age",
        "--wait",
        "--timeout",
        "300",
        "--json",
        **login(facts),
    )
    assert ran.returncode == 0, ran.stderr + ran.stdout
    result = json.loads(ran.stdout)["results"][0]["result"]
    ages = pooled("age")
    assert result["count"] == len(ages) and result["organizations"] == NODES
    assert result["mean"] == pytest.approx(statistics.mean(ages), rel=1e-12)


@pytest.mark.containers
def test_down_leaves_no_process_or_container(box):
    env, facts = box
    status = json.loads(run_v6(env, "sandbox", "status", "--json").stdout)
    pids = [p["pid"] for p in status["processes"] if p["pid"]]
    assert len(pids) == NODES + 2
    data = env.user_data / "sandbox" / "sandbox"
    instance_ids = [
        json.loads((data / f"node{i}" / "tasks" / "node.json").read_text())["instance_id"]
        for i in range(1, NODES + 1)
    ]
    down = run_v6(env, "sandbox", "down", "--purge", "--json")
    assert down.returncode == 0, down.stderr
    report = json.loads(down.stdout)
    assert set(report["stopped"]) == {"server", "store"} | {f"node{i}" for i in range(1, NODES + 1)}
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid), f"process {pid} is still there"
    for ident in instance_ids:
        left = podman("ps", "-a", "-q", "--filter", f"label=v6node.instance={ident}")
        assert left.stdout.strip() == "", f"containers of node {ident} left: {left.stdout}"
    leftovers = subprocess.run(["pgrep", "-f", str(env.root)], capture_output=True, text=True)
    assert leftovers.stdout.strip() == ""
    assert not data.exists()
    assert not (env.user_config / "sandbox" / "sandbox").exists()
    # down again: nothing to do
    assert run_v6(env, "sandbox", "down").returncode == 0


def _zombie(pid: int) -> bool:
    try:
        return "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return True


def test_no_container_runtime(tmp_path):
    env = Env(tmp_path / "home")
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    result = run_v6(env, "sandbox", "up", PATH=str(empty))
    assert result.returncode == 10
    assert "no container runtime" in result.stderr
    assert "apt-get install podman" in result.stderr


def test_container_runtime_that_does_not_answer(tmp_path):
    if shutil.which("docker") is None:
        pytest.skip("docker is not installed")
    if subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0:
        pytest.skip("docker answers here")
    env = Env(tmp_path / "home")
    result = run_v6(env, "sandbox", "up", "--runtime", "docker")
    assert result.returncode == 10
    assert "does not answer" in result.stderr


@pytest.mark.containers
@pytest.mark.timeout(1800)
def test_encrypted_sandbox(tmp_path):
    """End-to-end encryption: the nodes' keys, the researcher's key (V6_PRIVATE_KEY) and a
    task through ``v6 task`` whose input and result the server only sees encrypted."""
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed")
    env = Env(tmp_path / "home")
    try:
        up = run_v6(
            env,
            "sandbox",
            "up",
            "--name",
            "enc",
            "--nodes",
            "2",
            "--encrypted",
            "--port",
            free_port(),
            "--json",
            timeout=1500,
        )
        assert up.returncode == 0, up.stderr[-4000:]
        facts = json.loads(up.stdout)
        assert facts["encrypted"] is True and facts["demo"]["status"] == "completed"
        assert facts["demo"]["result"]["age"]["count"] == len(pooled("age"))
        env_login = {**login(facts), "V6_PRIVATE_KEY": facts["private_key"]}
        ran = run_v6(
            env,
            "task",
            "create",
            "--algorithm",
            "v6demo",
            "--function",
            "summary",
            "--arg",
            "columns=bmi",
            "--wait",
            "--json",
            **env_login,
        )
        assert ran.returncode == 0, ran.stderr
        report = json.loads(ran.stdout)
        assert report["results"][0]["result"]["bmi"]["count"] == len(pooled("bmi"))
        # what the server holds is ciphertext
        from vantage6_client import Client
        from vantage6_common import crypto

        client = Client(facts["api_url"])
        client.authenticate(facts["username"], facts["password"])
        raw = client.request("result", params={"task_id": report["id"]})["data"][0]["result"]
        raw_input = client.request("run", params={"task_id": report["id"]})["data"][0]["input"]
        collab = client.collaboration.get(facts["collaboration_id"])
        client.close()
        # the sandbox's encrypted collaboration requires the authenticated format, so both
        # directions use it
        assert collab["encryption_scheme"] == "authenticated"
        assert crypto.detect_scheme(raw) == crypto.SCHEME_GCM
        assert crypto.detect_scheme(raw_input) == crypto.SCHEME_GCM
        # without the key the CLI says what is missing
        no_key = run_v6(env, "task", "result", report["id"], **login(facts))
        assert no_key.returncode == 2 and "V6_PRIVATE_KEY" in no_key.stderr
    finally:
        down = run_v6(env, "sandbox", "down", "--name", "enc", "--purge")
        assert down.returncode == 0
