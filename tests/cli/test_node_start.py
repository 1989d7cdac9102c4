"""``v6 node start`` and ``v6 node list`` tell the truth (issue 12, item 1): a node that cannot
work ends the command with the node's own one-line reason and the documented exit code,
within ``--timeout``; a running node whose server is gone is listed as such."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import yaml

from tests.cli.conftest import run_v6
from tests.cli.test_server_node import free_port

pytestmark = pytest.mark.containers


def _needs_podman() -> None:
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed")


def _node(v6env, name: str, port: int, api_key: str = "not-a-key", **extra) -> Path:
    created = run_v6(
        v6env,
        "node",
        "new",
        name,
        "--api-key",
        api_key,
        "--port",
        port,
        "--no-pull",
        "--no-check",  # the key is wrong on purpose in some tests
        "--no-input",
    )
    assert created.returncode == 0, created.stderr
    config = v6env.user_config / "node" / f"{name}.yaml"
    if extra:
        data = yaml.safe_load(config.read_text())
        data.update(extra)
        config.write_text(yaml.safe_dump(data))
    return config


def _start(v6env, name: str, timeout: float):
    started = time.monotonic()
    result = run_v6(v6env, "node", "start", name, "--timeout", timeout, timeout=timeout + 60)
    return result, time.monotonic() - started


def _one_line_reason(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr, stderr
    return lines[0]


def test_wrong_api_key(v6env, live_server):
    _needs_podman()
    _node(v6env, "wrongkey", live_server.port, api_key="no-such-key")
    result, seconds = _start(v6env, "wrongkey", timeout=90)
    assert result.returncode == 6, result.stderr
    reason = _one_line_reason(result.stderr)
    assert "did not start" in reason and "refused the node's API key" in reason
    assert seconds < 90
    listed = json.loads(run_v6(v6env, "node", "list", "--json").stdout)
    assert listed[0]["status"] == "stopped"


def test_unknown_runtime(v6env, live_server):
    _node(v6env, "rkt", live_server.port, runtime="rkt")
    result, seconds = _start(v6env, "rkt", timeout=30)
    assert result.returncode == 10, result.stderr
    reason = _one_line_reason(result.stderr)
    assert "unknown container runtime 'rkt'" in reason and "podman" in reason
    assert seconds < 30


def test_container_engine_that_does_not_answer(v6env, live_server, tmp_path):
    socket = tmp_path / "no-engine.sock"
    _node(
        v6env,
        "noengine",
        live_server.port,
        runtime="docker",
        runtime_options={"base_url": f"unix://{socket}"},
    )
    result, seconds = _start(v6env, "noengine", timeout=30)
    assert result.returncode == 10, result.stderr
    reason = _one_line_reason(result.stderr)
    assert "container runtime 'docker' does not answer" in reason and str(socket) in reason
    assert seconds < 30


def test_unreachable_server_within_the_timeout(v6env):
    _needs_podman()
    port = free_port()
    _node(v6env, "lonely", port)
    result, seconds = _start(v6env, "lonely", timeout=8)
    assert result.returncode == 7, result.stderr
    reason = _one_line_reason(result.stderr)
    assert "could not reach its server within 8 s" in reason and str(port) in reason
    assert seconds < 8 + 25  # the timeout, then stopping the node
    listed = json.loads(run_v6(v6env, "node", "list", "--json").stdout)
    assert listed[0]["status"] == "stopped"


def test_list_shows_a_node_that_lost_its_server(v6env):
    """The node runs, but its server stopped: ``list`` says so (it said "running")."""
    _needs_podman()
    port = free_port()
    assert run_v6(v6env, "server", "new", "hq", "--port", port, "--no-input").returncode == 0
    assert run_v6(v6env, "server", "start", "hq").returncode == 0
    try:
        spec = v6env.root / "fed.yaml"
        spec.write_text(
            yaml.safe_dump(
                {
                    "organizations": [{"name": "Org A"}],
                    "collaborations": [{"name": "Collab A", "participants": [{"name": "Org A"}]}],
                }
            )
        )
        imported = run_v6(v6env, "server", "import", spec, "--json")
        assert imported.returncode == 0, imported.stderr
        key = next(r["api_key"] for r in json.loads(imported.stdout) if r["kind"] == "node")
        _node(v6env, "station", port, api_key=key)
        started, seconds = _start(v6env, "station", timeout=120)
        assert started.returncode == 0, started.stderr
        assert "is online" in started.stderr
        listed = json.loads(run_v6(v6env, "node", "list", "--json").stdout)
        assert listed[0]["status"] == "online"

        assert run_v6(v6env, "server", "stop", "hq").returncode == 0
        deadline = time.monotonic() + 60
        while True:
            row = json.loads(run_v6(v6env, "node", "list", "--json").stdout)[0]
            if row["status"] == "no-server":
                break
            assert time.monotonic() < deadline, row
            time.sleep(0.5)
        assert row["pid"] and f":{port}" in row["detail"]
        table = run_v6(v6env, "node", "list")
        assert "no-server" in table.stdout and "running" not in table.stdout

        # the server comes back: the node is online again
        assert run_v6(v6env, "server", "start", "hq").returncode == 0
        deadline = time.monotonic() + 90
        while json.loads(run_v6(v6env, "node", "list", "--json").stdout)[0]["status"] != ("online"):
            assert time.monotonic() < deadline
            time.sleep(0.5)
    finally:
        run_v6(v6env, "node", "stop", "station")
        run_v6(v6env, "server", "stop", "hq")
