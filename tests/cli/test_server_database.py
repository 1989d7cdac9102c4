"""A wrong or unreachable database URI is one line at ``v6 server new`` and ``v6 server start``
(issue 12, item 5), with PostgreSQL on 127.0.0.1:5432 as the reachable database."""

from __future__ import annotations

import json
import socket

import pytest
import yaml

from tests.cli.test_server_node import free_port


def _pg_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=2):
            return True
    except OSError:
        return False


def _one_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("not a uri", "is not a database URI"),
        ("mongodb://127.0.0.1/x", "unknown database type 'mongodb'"),
        (f"postgresql://postgres@127.0.0.1:{free_port()}/v6", "cannot connect to the database"),
        ("postgresql://postgres@no-such-host.invalid/v6", "cannot connect to the database"),
        ("sqlite:////etc/hostname/server.sqlite", "cannot be created"),
    ],
)
def test_server_new_checks_the_database(v6, v6env, uri, says):
    result = v6("server", "new", "hq", "--database-uri", uri, "--no-input")
    assert result.exit_code == 2, result.stderr
    line = _one_line(result.stderr)
    assert "--database-uri" in line and says in line
    assert not (v6env.user_config / "server" / "hq.yaml").exists()


def test_a_reachable_postgres_without_the_database(v6):
    if not _pg_answers():
        pytest.skip("PostgreSQL does not run on 127.0.0.1:5432")
    uri = "postgresql://postgres@127.0.0.1:5432/v6_no_such_database_here"
    result = v6("server", "new", "hq", "--database-uri", uri, "--no-input")
    assert result.exit_code == 2
    assert "v6_no_such_database_here" in _one_line(result.stderr)


def test_server_start_with_a_database_that_went_away(v6, v6env):
    """Made with --no-check (or the database went away since): start says it in one line and
    leaves no process behind."""
    port = free_port()
    dead = f"postgresql://nobody:secret@127.0.0.1:{free_port()}/none"
    made = v6(
        "server", "new", "dies", "--port", port, "--database-uri", dead, "--no-check", "--no-input"
    )
    assert made.exit_code == 0, made.stderr
    result = v6("server", "start", "dies", "--timeout", "30")
    assert result.exit_code == 3
    line = _one_line(result.stderr)
    assert "cannot use its database" in line and "secret" not in line
    assert "database_uri" in result.stderr
    assert json.loads(v6("server", "list", "--json").stdout)[0]["status"] == "stopped"
    # a broken URI written by hand: the same
    config = v6env.user_config / "server" / "dies.yaml"
    data = yaml.safe_load(config.read_text())
    data["database_uri"] = "postgresql//missing-colon"
    config.write_text(yaml.safe_dump(data))
    broken = v6("server", "start", "dies")
    assert broken.exit_code == 3 and "Traceback" not in broken.stderr
