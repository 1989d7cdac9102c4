"""The questionary wizards, driven through a real terminal (pexpect)."""

from __future__ import annotations

import pytest
import yaml

from tests.cli.conftest import V6

pexpect = pytest.importorskip("pexpect")

CLEAR_LINE = "\x15"  # Ctrl-U: drop the pre-filled default
DOWN = "\x1b[B"


def spawn(env, *args: str):
    environ = env.environ(PROMPT_TOOLKIT_NO_CPR="1", TERM="xterm")
    return pexpect.spawn(
        V6, list(args), env=environ, encoding="utf-8", dimensions=(40, 160), timeout=30
    )


def answer(child, prompt: str, keys: str, enter: bool = True) -> None:
    child.expect_exact(prompt)
    child.send(keys + ("\r" if enter else ""))


def finish(child) -> int:
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus


def test_server_wizard(v6env):
    child = spawn(v6env, "server", "new")
    answer(child, "Name of the server", "wizard")
    answer(child, "Interface to listen on", "")  # keep 127.0.0.1
    answer(child, "Port", CLEAR_LINE + "70000")  # refused by the validator ...
    child.expect_exact("must be 1-65535")
    child.send(CLEAR_LINE + "7612\r")  # ... then a good one
    answer(child, "API path", "")
    answer(child, "Database", "")
    answer(child, "two-factor", "y", enter=False)
    answer(child, "Password for the user 'root'", "short")
    child.expect_exact("must contain")  # the server's password rules
    child.send("\x08" * 5 + "Wizard-Pass-123\r")
    # the installed storage backends (azure, filesystem, s3) and none; filesystem preselected
    answer(child, "Where to keep large task inputs and results", DOWN)  # -> s3
    answer(child, "s3: bucket for the blobs", "")  # required: refused empty ...
    child.expect_exact("an answer is required")
    child.send("results\r")  # ... then given
    answer(child, "s3: endpoint of an S3-compatible store", "http://127.0.0.1:9000")
    answer(child, "s3: region of the bucket", "")
    answer(child, "s3: access key", "AKIA")
    answer(child, "s3: secret key", "s3cr3t")
    answer(child, "s3: key prefix", "")
    answer(child, "s3: multipart part size in MiB", CLEAR_LINE + "2")  # below S3's minimum
    child.expect_exact("greater than or equal to 5")
    child.send(CLEAR_LINE + "16\r")
    for prompt in ("s3: connect timeout", "s3: read timeout", "s3: attempts per request"):
        answer(child, prompt, "")
    child.expect_exact("created")
    assert finish(child) == 0
    data = yaml.safe_load((v6env.user_config / "server" / "wizard.yaml").read_text())
    assert data["port"] == 7612 and data["host"] == "127.0.0.1"
    assert data["two_factor_auth"] is True
    assert data["large_result_store"] == {
        "type": "s3",
        "bucket": "results",
        "endpoint_url": "http://127.0.0.1:9000",
        "access_key_id": "AKIA",
        "secret_access_key": "s3cr3t",
        "part_size_mib": 16,
    }
    password = v6env.user_data / "server" / "wizard" / "root-password"
    assert password.read_text().strip() == "Wizard-Pass-123"


def test_flags_are_not_asked_again(v6env):
    child = spawn(
        v6env,
        "server",
        "new",
        "flagged",
        "--port",
        "7613",
        "--api-path",
        "/x",
        "--storage",
        "filesystem",
        "--storage-path",
        str(v6env.root / "blobs"),
    )
    answer(child, "Interface to listen on", "")
    answer(child, "Database", "")  # no Port or API path question in between
    answer(child, "two-factor", "n", enter=False)
    answer(child, "Password for the user 'root'", "")  # empty: generated
    assert finish(child) == 0  # no storage questions either
    data = yaml.safe_load((v6env.user_config / "server" / "flagged.yaml").read_text())
    assert data["port"] == 7613 and data["api_path"] == "/x"
    assert data["large_result_store"]["path"] == str(v6env.root / "blobs")
    assert "Port" not in (child.before or "")


def test_node_wizard_with_a_database(v6env, tmp_path):
    data = tmp_path / "patients.csv"
    data.write_text("age\n40\n")
    child = spawn(v6env, "node", "new", "wiznode")
    answer(child, "Server URL", "")
    answer(child, "Server port", CLEAR_LINE + "7700")
    answer(child, "API path", "")
    answer(child, "API key of the node", "the-api-key")
    child.expect_exact("the API key is not checked")  # no server there
    answer(child, "Add a database?", "y", enter=False)
    answer(child, "Label", "")  # default
    answer(child, "Path or URI", str(data))
    answer(child, "Type", "")  # guessed: csv
    answer(child, "Add another database?", "n", enter=False)
    answer(child, "Container runtime", "")  # the default (podman)
    answer(child, "Allowed algorithm images", "")
    answer(child, "Always pull algorithm images", "n", enter=False)
    answer(child, "Is the collaboration encrypted", "y", enter=False)
    child.expect_exact("created")
    assert finish(child) == 0
    config = yaml.safe_load((v6env.user_config / "node" / "wiznode.yaml").read_text())
    assert config["api_key"] == "the-api-key" and config["port"] == 7700
    assert config["databases"] == [{"label": "default", "uri": str(data), "type": "csv"}]
    assert config["policies"]["require_algorithm_pull"] is False
    assert config["encryption"]["enabled"] is True
    assert config["runtime"] == "podman"


def test_remove_asks_for_confirmation(v6env):
    created = spawn(v6env, "server", "new", "doomed", "--no-input")
    assert finish(created) == 0
    child = spawn(v6env, "server", "remove", "doomed")
    answer(child, "Remove server 'doomed'", "n", enter=False)
    assert finish(child) == 130
    assert (v6env.user_config / "server" / "doomed.yaml").exists()
    child = spawn(v6env, "server", "remove", "doomed")
    answer(child, "Remove server 'doomed'", "y", enter=False)
    assert finish(child) == 0
    assert not (v6env.user_config / "server" / "doomed.yaml").exists()


def test_ctrl_c_cancels_a_wizard(v6env):
    child = spawn(v6env, "node", "new")
    child.expect_exact("Name of the node")
    child.sendcontrol("c")
    assert finish(child) == 130
    assert not (v6env.user_config / "node").exists()
