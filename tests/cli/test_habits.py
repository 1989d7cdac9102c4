"""vantage6 4.x habits work (issue 12, item 9): ``-n/--name``, ``restart``, ``attach``,
visible ``version`` commands and ``node clean``; a real server and a real node (podman)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from tests.cli.conftest import REPO, V6, run_v6
from tests.cli.federation import start_federation, stop_federation

pytestmark = pytest.mark.containers


def podman(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ}
    env.setdefault("CONTAINERS_CONF", str(REPO / "containers" / "containers.conf"))
    return subprocess.run(["podman", *args], capture_output=True, text=True, env=env)


def test_version_commands_are_visible(v6):
    for group in ([], ["node"], ["server"]):
        helped = v6(*group, "--help").stdout
        assert "version" in helped
        shown = v6(*group, "version", "--json")
        assert shown.exit_code == 0 and json.loads(shown.stdout)["vantage6"].startswith("4.")


def test_habits_with_a_real_node(tmp_path):
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed")
    fed = start_federation(tmp_path / "habits")
    env = fed.env
    try:
        # -n/--name as in vantage6 4.x, on every instance command
        files = run_v6(env, "node", "files", "-n", "clinic", "--json")
        assert files.returncode == 0, files.stderr
        assert json.loads(files.stdout)["config"].endswith("clinic.yaml")
        assert run_v6(env, "server", "files", "--name", "hq").returncode == 0
        both = run_v6(env, "node", "files", "clinic", "-n", "other")
        assert both.returncode == 2 and "give one" in both.stderr

        before = json.loads(run_v6(env, "node", "list", "--json").stdout)[0]
        restarted = run_v6(env, "node", "restart", "-n", "clinic", "--json", timeout=300)
        assert restarted.returncode == 0, restarted.stderr
        facts = json.loads(restarted.stdout)
        assert facts["was"] == "running" and facts["pid"] != before["pid"]
        assert json.loads(run_v6(env, "node", "list", "--json").stdout)[0]["status"] == "online"

        # attach follows the log; Ctrl-C stops following, not the node
        attach = subprocess.Popen(
            [V6, "node", "attach", "-n", "clinic"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env.environ(),
        )
        seen = ""
        while "is running" not in seen:  # the node's own line, from its log
            line = attach.stdout.readline()
            assert line, seen
            seen += line
        time.sleep(0.5)
        attach.send_signal(signal.SIGINT)
        _, err = attach.communicate(timeout=30)
        assert attach.returncode == 0 and "keeps running" in err
        assert json.loads(run_v6(env, "node", "list", "--json").stdout)[0]["status"] == "online"

        # clean: refused while it runs; afterwards, leftovers of the node are removed
        busy = run_v6(env, "node", "clean", "-n", "clinic")
        assert busy.returncode == 5 and "stop it first" in busy.stderr
        ident = json.loads((env.user_data / "node" / "clinic" / "tasks" / "node.json").read_text())[
            "instance_id"
        ]
        assert run_v6(env, "node", "stop", "-n", "clinic").returncode == 0
        left = podman(
            "create", "--label", f"v6node.instance={ident}", "localhost/v6-base:latest", "true"
        )
        assert left.returncode == 0, left.stderr
        cleaned = run_v6(env, "node", "clean", "--json")
        assert cleaned.returncode == 0, cleaned.stderr
        assert json.loads(cleaned.stdout) == [{"name": "clinic", "removed": 1}]
        gone = podman("ps", "-a", "-q", "--filter", f"label=v6node.instance={ident}")
        assert gone.stdout.strip() == ""
        not_running = run_v6(env, "node", "attach", "clinic")
        assert not_running.returncode == 5 and "--attach" in not_running.stderr
    finally:
        stop_federation(fed)
