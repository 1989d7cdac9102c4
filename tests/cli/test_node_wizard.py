"""The node wizard checks as it goes (issue 12, item 2), driven through a real terminal
(pexpect) against a real server started with ``v6 server start``."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.cli.conftest import Env, run_v6
from tests.cli.test_server_node import free_port
from tests.cli.test_wizards import CLEAR_LINE, answer, finish, spawn

pexpect = pytest.importorskip("pexpect")


@pytest.fixture(scope="module")
def hq(tmp_path_factory):
    """A server made and started with ``v6 server new/start``, with an encrypted and an
    unencrypted collaboration (one node each)."""
    env = Env(tmp_path_factory.mktemp("wizard"))
    port = free_port()
    assert run_v6(env, "server", "new", "hq", "--port", port, "--no-input").returncode == 0
    started = run_v6(env, "server", "start", "hq")
    assert started.returncode == 0, started.stderr
    spec = env.root / "fed.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "organizations": [{"name": "Org A"}],
                "collaborations": [
                    {"name": "Secret", "encrypted": True, "participants": [{"name": "Org A"}]},
                    {"name": "Open", "encrypted": False, "participants": [{"name": "Org A"}]},
                ],
            }
        )
    )
    imported = run_v6(env, "server", "import", spec, "--json")
    assert imported.returncode == 0, imported.stderr
    keys = {r["name"]: r["api_key"] for r in json.loads(imported.stdout) if r["kind"] == "node"}
    encrypted_key = next(k for name, k in keys.items() if "Secret" in name)
    open_key = next(k for name, k in keys.items() if "Open" in name)
    yield {"env": env, "port": port, "secret_key": encrypted_key, "open_key": open_key}
    run_v6(env, "server", "stop", "hq")


def _config(env: Env, name: str) -> dict:
    return yaml.safe_load((env.user_config / "node" / f"{name}.yaml").read_text())


def test_wizard_checks_each_answer(hq, tmp_path):
    env = hq["env"]
    data = tmp_path / "patients.csv"
    data.write_text("age\n40\n")
    child = spawn(env, "node", "new", "station")
    answer(child, "Server URL", "")  # the server configured here
    child.expect_exact("Server port")
    child.expect_exact(str(hq["port"]))  # its port is the default
    child.send("\r")
    answer(child, "API path", "")
    answer(child, "API key of the node", "not-the-key")
    child.expect_exact("refused this API key")  # tried against the server at once ...
    answer(child, "API key of the node", hq["secret_key"])  # ... and asked again
    child.expect_exact("accepted the API key")
    child.expect_exact("collaboration is encrypted")  # read from the server
    answer(child, "Add a database?", "y", enter=False)
    answer(child, "Label", "")
    answer(child, "Path or URI", str(tmp_path / "missing.csv"))
    answer(child, "Type", "")
    child.expect_exact("does not exist")  # checked now, not after every other question
    answer(child, "Path or URI", str(data))
    answer(child, "Type", "")
    answer(child, "Add another database?", "n", enter=False)
    answer(child, "Container runtime", "")
    answer(child, "Allowed algorithm images", "localhost/v6-demo.*, (broken")
    child.expect_exact("not a valid regular expression")
    child.send(CLEAR_LINE + "localhost/v6-demo.*\r")
    answer(child, "Always pull algorithm images", "", enter=True)  # default: no
    child.expect_exact("created")
    assert finish(child) == 0
    assert "Is the collaboration encrypted" not in (child.before or "")
    config = _config(env, "station")
    assert config["server_url"] == "http://127.0.0.1" and config["port"] == hq["port"]
    assert config["api_path"] == "/api" and config["api_key"] == hq["secret_key"]
    assert config["databases"] == [{"label": "default", "uri": str(data), "type": "csv"}]
    assert config["policies"] == {
        "require_algorithm_pull": False,
        "allowed_algorithms": ["localhost/v6-demo.*"],
    }
    assert config["encryption"]["enabled"] is True


def test_a_pasted_full_url_is_not_asked_again(hq):
    env = hq["env"]
    child = spawn(env, "node", "new", "pasted")
    answer(child, "Server URL", CLEAR_LINE + f"http://127.0.0.1:{hq['port']}/api")
    answer(child, "API key of the node", hq["open_key"])  # no port or API path question
    child.expect_exact("collaboration is not encrypted")
    answer(child, "Add a database?", "n", enter=False)
    answer(child, "Container runtime", "")
    answer(child, "Allowed algorithm images", "")
    answer(child, "Always pull algorithm images", "n", enter=False)
    child.expect_exact("created")
    assert finish(child) == 0
    config = _config(env, "pasted")
    assert config["server_url"] == "http://127.0.0.1"
    assert config["port"] == hq["port"] and config["api_path"] == "/api"
    assert "encryption" not in config and "allowed_algorithms" not in config["policies"]
    # the node accepts what was written
    checked = run_v6(env, "node", "files", "pasted", "--json")
    assert checked.returncode == 0, checked.stderr


def test_without_a_terminal_the_same_checks_apply(hq):
    env = hq["env"]
    made = run_v6(env, "node", "new", "quiet", "--api-key", hq["secret_key"], "--no-input")
    assert made.returncode == 0, made.stderr
    config = _config(env, "quiet")
    assert config["port"] == hq["port"]  # the server made here, not 7601
    assert config["encryption"]["enabled"] is True  # as the server says
    assert config["policies"]["require_algorithm_pull"] is False
    refused = run_v6(env, "node", "new", "bad", "--api-key", "wrong", "--no-input")
    assert refused.returncode == 6 and "refused this API key" in refused.stderr
    assert not (env.user_config / "node" / "bad.yaml").exists()
    clash = run_v6(
        env, "node", "new", "clash", "--api-key", hq["open_key"], "--encryption", "--no-input"
    )
    assert clash.returncode == 2 and "not encrypted" in clash.stderr
    url = f"http://127.0.0.1:{hq['port']}/api"
    pasted = run_v6(
        env, "node", "new", "flag", "--server-url", url, "--api-key", hq["open_key"], "--no-input"
    )
    assert pasted.returncode == 0, pasted.stderr
    assert _config(env, "flag")["port"] == hq["port"]
    gone = run_v6(
        env,
        "node",
        "new",
        "nohost",
        "--server-url",
        "http://no-such-host.invalid",
        "--api-key",
        "k",
        "--no-input",
    )
    assert gone.returncode == 0, gone.stderr
    assert "cannot be resolved" in gone.stderr and "Max retries" not in gone.stderr
