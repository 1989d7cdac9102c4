"""``v6 sandbox`` after ``down`` (issue 12, item 6): ``up --name X`` starts it as it was made,
``status`` without a name lists the sandboxes. Real servers and nodes (podman)."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.cli.conftest import Env, run_v6
from tests.cli.test_server_node import free_port

pytestmark = pytest.mark.containers


@pytest.mark.timeout(1800)
def test_up_after_down_and_status_of_several(tmp_path):
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed")
    env = Env(tmp_path / "home")
    try:
        assert json.loads(run_v6(env, "sandbox", "status", "--json").stdout) == {"sandboxes": []}
        first = run_v6(
            env,
            "sandbox",
            "up",
            "--name",
            "alpha",
            "--nodes",
            1,
            "--no-demo",
            "--port",
            free_port(),
            "--json",
            timeout=1500,
        )
        assert first.returncode == 0, first.stderr[-3000:]
        api_url = json.loads(first.stdout)["api_url"]
        assert run_v6(env, "sandbox", "down", "--name", "alpha").returncode == 0

        # the flags it was made with need not be repeated
        again = run_v6(env, "sandbox", "up", "--name", "alpha", "--no-demo", "--json")
        assert again.returncode == 0, again.stderr[-3000:]
        facts = json.loads(again.stdout)
        assert facts["api_url"] == api_url and len(facts["nodes"]) == 1
        changed = run_v6(env, "sandbox", "up", "--name", "alpha", "--nodes", 2, "--no-demo")
        assert changed.returncode == 5
        assert "--nodes 1" in changed.stderr and "--nodes 2" in changed.stderr

        # the only sandbox: status without a name shows it
        only = json.loads(run_v6(env, "sandbox", "status", "--json").stdout)
        assert only["name"] == "alpha" and only["exists"] is True

        second = run_v6(
            env,
            "sandbox",
            "up",
            "--name",
            "beta",
            "--nodes",
            1,
            "--no-demo",
            "--port",
            free_port(),
            timeout=1500,
        )
        assert second.returncode == 0, second.stderr[-3000:]
        assert run_v6(env, "sandbox", "down", "--name", "beta").returncode == 0
        listed = json.loads(run_v6(env, "sandbox", "status", "--json").stdout)["sandboxes"]
        assert [(s["name"], s["server"], s["nodes running"]) for s in listed] == [
            ("alpha", "running", 1),
            ("beta", "stopped", 0),
        ]
        table = run_v6(env, "sandbox", "status")
        assert "alpha" in table.stdout and "beta" in table.stdout and "1/1" in table.stdout
    finally:
        for name in ("alpha", "beta"):
            run_v6(env, "sandbox", "down", "--name", name, "--purge")
