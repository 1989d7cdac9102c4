"""The login options are declared once and reach every command that logs in, from the command
line or from the environment (the command line wins). No server is needed: a closed port tells
which URL the command used."""

from __future__ import annotations

import socket

import pytest

LOGIN_COMMANDS = [
    ("collaboration", "list"),
    ("organization", "list"),
    ("task", "create"),
    ("task", "list"),
    ("task", "get"),
    ("task", "wait"),
    ("task", "result"),
    ("task", "kill"),
]
LOGIN_FLAGS = ["--server-url", "-u, --username", "--password", "--mfa-code", "--private-key"]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("command", LOGIN_COMMANDS, ids=" ".join)
def test_every_login_command_has_the_login_options(v6, command):
    result = v6(*command, "--help")
    assert result.exit_code == 0, result.output
    for flag in LOGIN_FLAGS:
        assert flag in result.stdout
    for var in ("V6_SERVER_URL", "V6_USERNAME", "V6_PASSWORD", "V6_PRIVATE_KEY"):
        assert var in result.stdout


def test_without_a_server_the_command_says_how_to_name_one(v6):
    result = v6("collaboration", "list", "-u", "someone", "--password", "secret")
    assert result.exit_code == 2
    assert "no server: pass --server-url or set V6_SERVER_URL" in result.stderr


def test_without_a_password_and_no_terminal_the_command_says_how_to_give_one(v6):
    result = v6("task", "list", env={"V6_SERVER_URL": "http://127.0.0.1:1/api", "V6_USERNAME": "a"})
    assert result.exit_code == 2
    assert "no password: pass --password or set V6_PASSWORD" in result.stderr


def test_the_environment_logs_in_and_the_command_line_wins(v6):
    from_env = closed_port()
    from_flag = closed_port()
    while from_flag == from_env:
        from_flag = closed_port()
    env = {
        "V6_SERVER_URL": f"http://127.0.0.1:{from_env}/api",
        "V6_USERNAME": "someone",
        "V6_PASSWORD": "secret",
    }
    result = v6("task", "get", "1", env=env)
    assert result.exit_code == 7, result.stderr
    assert f"127.0.0.1:{from_env}/api" in result.stderr

    result = v6("task", "get", "1", "--server-url", f"http://127.0.0.1:{from_flag}/api", env=env)
    assert result.exit_code == 7, result.stderr
    assert f"127.0.0.1:{from_flag}/api" in result.stderr
    assert f":{from_env}/" not in result.stderr
