"""Errors a new user meets say what happened in the CLI's words (issue 12, item 10), against a
real server started with ``v6 server start``."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest
import yaml

from tests.cli.conftest import V6, run_v6
from tests.cli.federation import PASSWORD, start_federation, stop_federation


@pytest.fixture(scope="module")
def fed(tmp_path_factory):
    root = tmp_path_factory.mktemp("errors")
    federation = start_federation(root, with_node=False)
    spec = root / "secret.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "organizations": [
                    {
                        "name": "Vault",
                        "users": [
                            {"username": "vic", "password": PASSWORD, "roles": ["Researcher"]}
                        ],
                    }
                ],
                "collaborations": [
                    {"name": "Secret", "encrypted": True, "participants": [{"name": "Vault"}]}
                ],
            }
        )
    )
    imported = run_v6(federation.env, "server", "import", spec, "--json")
    assert imported.returncode == 0, imported.stderr
    federation.secret_collaboration = next(
        r["id"] for r in json.loads(imported.stdout) if r["kind"] == "collaboration"
    )
    yield federation
    stop_federation(federation)


def test_unknown_host_in_few_words(fed):
    result = run_v6(
        fed.env,
        "task",
        "list",
        "--server-url",
        "http://no-such-host.invalid:7601/api",
        "-u",
        "ann",
        "--password",
        "x",
    )
    assert result.returncode == 7
    assert "'no-such-host.invalid' cannot be resolved" in result.stderr
    for leak in ("Max retries", "NameResolutionError", "urllib3", "HTTPConnection"):
        assert leak not in result.stderr


def test_encrypted_collaboration_without_a_key(fed):
    result = fed.v6(
        "task",
        "create",
        "-C",
        fed.secret_collaboration,
        "-i",
        "localhost/v6-demo",
        "-m",
        "summary",
        "-d",
        "default",
        V6_USERNAME="vic",
    )
    assert result.returncode == 2, result.stderr
    assert "encrypted and no private key was given" in result.stderr
    assert "--private-key" in result.stderr and "V6_PRIVATE_KEY" in result.stderr
    assert "setup_encryption" not in result.stderr


def test_ctrl_c_while_waiting_says_the_task_goes_on(fed):
    child = subprocess.Popen(
        [
            V6,
            "task",
            "create",
            "-i",
            "localhost/v6-demo",
            "-m",
            "summary",
            "-d",
            "default",
            "--wait",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=fed.env.environ(**fed.login),
    )
    seen = ""
    deadline = time.monotonic() + 60
    while "created" not in seen and time.monotonic() < deadline:
        seen += child.stderr.readline()
    task_id = json.loads(fed.v6("task", "list", "--json").stdout)[0]["id"]
    time.sleep(1.0)  # waiting now (no node: the task stays pending)
    child.send_signal(signal.SIGINT)
    _, rest = child.communicate(timeout=30)
    assert child.returncode == 130
    assert f"task {task_id} goes on at the nodes" in rest
    assert f"v6 task wait {task_id}" in rest and "Traceback" not in rest
    assert fed.v6("task", "get", task_id, "--json").returncode == 0


def test_unknown_status_is_a_usage_error(fed):
    result = fed.v6("task", "list", "--status", "bogus")
    assert result.returncode == 2
    assert "bogus" in result.stderr and "completed" in result.stderr
    done = fed.v6("task", "list", "--status", "completed", "--json")
    assert done.returncode == 0 and json.loads(done.stdout) == []


def test_port_of_another_configured_server(fed):
    result = run_v6(fed.env, "server", "new", "second", "--port", fed.port, "--no-input")
    assert result.returncode == 2
    assert f"port {fed.port} is already used by server 'hq'" in result.stderr
    other = run_v6(fed.env, "server", "new", "second", "--no-input", "--json")
    assert other.returncode == 0, other.stderr
    assert json.loads(other.stdout)["api_url"] != fed.api_url


def test_private_key_keeps_an_unencrypted_node_unencrypted(fed):
    key = next(iter(fed.node_keys.values()))
    made = run_v6(fed.env, "node", "new", "plain", "--api-key", key, "--no-input")
    assert made.returncode == 0, made.stderr
    result = run_v6(fed.env, "node", "create-private-key", "plain", "--json")
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    assert facts["encryption"] is False
    config = yaml.safe_load((fed.env.user_config / "node" / "plain.yaml").read_text())
    assert config["encryption"]["enabled"] is False
    assert config["encryption"]["private_key"] == facts["private_key"]
