"""``v6 store``: new, start, list, files, logs, stop and remove algorithm stores, with real
store (and server) processes on loopback (issue 13)."""

from __future__ import annotations

import json
import socket
import subprocess

import httpx
import pytest
import yaml

from tests.cli.conftest import V6
from tests.cli.test_algorithm_completion import _complete
from tests.cli.test_server_node import free_port


def _one_line(stderr: str, prefix: str = "error:") -> str:
    """The only line of ``stderr`` that starts with ``prefix`` (and no traceback)."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, stderr
    return lines[0]


def _root_token(api_url: str, password: str) -> str:
    answer = httpx.post(
        api_url + "/token/user", json={"username": "root", "password": password}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def test_store_lifecycle_trusting_the_server_made_here(v6, v6env):
    """new -> start (it answers) -> list -> files -> logs -> stop -> remove; the store trusts
    the server configured here, whose root user is the store's administrator."""
    server_port, store_port = free_port(), free_port()
    assert v6("server", "new", "hq", "--port", server_port, "--no-input").exit_code == 0
    made = v6("store", "new", "shelf", "--port", store_port, "--no-input", "--json")
    assert made.exit_code == 0, made.stderr
    facts = json.loads(made.stdout)
    server_api = f"http://127.0.0.1:{server_port}/api"
    store_api = f"http://127.0.0.1:{store_port}/api"
    assert facts["api_url"] == store_api and facts["server"] == server_api
    config = yaml.safe_load((v6env.user_config / "store" / "shelf.yaml").read_text())
    assert config["root_user"] == {"v6_server_uri": server_api, "username": "root"}
    assert config["policies"]["allow_localhost"] is True  # its server is on this machine
    try:
        started = v6("server", "start", "hq")
        assert started.exit_code == 0, started.stderr
        started = v6("store", "start", "shelf", "--json")
        assert started.exit_code == 0, started.stderr
        assert json.loads(started.stdout)["api_url"] == store_api
        assert httpx.get(store_api + "/health", timeout=5).json() == {"healthy": True}
        assert httpx.get(store_api + "/version", timeout=5).status_code == 200

        # the server's root user is known to the store (checked with the server)
        password = (v6env.user_data / "server" / "hq" / "root-password").read_text().strip()
        headers = {
            "Authorization": f"Bearer {_root_token(server_api, password)}",
            "server_url": server_api,
        }
        users = httpx.get(store_api + "/user", headers=headers, timeout=10)
        assert users.status_code == 200, users.text
        assert "root" in users.text

        listed = json.loads(v6("store", "list", "--json").stdout)
        assert [(r["name"], r["status"]) for r in listed] == [("shelf", "running")]
        assert listed[0]["pid"] == json.loads(started.stdout)["pid"]
        files = json.loads(v6("store", "files", "shelf", "--json").stdout)
        assert files["database"] == config["database_uri"]
        assert files["log"].endswith("store.log")
        logs = v6("store", "logs", "shelf")
        assert logs.exit_code == 0 and "Application startup complete" in logs.stdout
        again = v6("store", "start", "shelf")
        assert again.exit_code == 5 and "already running" in _one_line(again.stderr)
        running = v6("store", "remove", "shelf", "--yes")
        assert running.exit_code == 5 and "is running" in _one_line(running.stderr)

        stopped = v6("store", "stop", "shelf")
        assert stopped.exit_code == 0, stopped.stderr
        assert json.loads(v6("store", "list", "--json").stdout)[0]["status"] == "stopped"
        with pytest.raises(httpx.HTTPError):
            httpx.get(store_api + "/health", timeout=2)
    finally:
        v6("store", "stop", "--all")
        v6("server", "stop", "--all")
    removed = v6("store", "remove", "shelf", "--yes", "--json")
    assert removed.exit_code == 0, removed.stderr
    assert not (v6env.user_config / "store" / "shelf.yaml").exists()
    assert not (v6env.user_data / "store" / "shelf").exists()
    assert json.loads(v6("store", "list", "--json").stdout) == []
    assert (v6env.user_config / "server" / "hq.yaml").exists()  # only the store went


SERVER = "http://127.0.0.1:7601/api"


@pytest.mark.parametrize(
    ("flags", "flag", "says"),
    [
        (["--port", "70000"], "--port", "must be 1-65535"),
        (["--min-reviewers", "0"], "--min-reviewers", "must be 1-100"),
        (["--min-reviewing-organizations", "101"], "--min-reviewing-organizations", "1-100"),
        (["--server-url", "ftp://files.example.org"], "--server-url", "http(s) URL"),
        (["--allowed-server", "not-a-url"], "--allowed-server", "'not-a-url'"),
        (["--root-username", " "], "--root-username", "an answer is required"),
        (["--database-uri", "mongodb://127.0.0.1/x"], "--database-uri", "unknown database type"),
        (["--api-path", "/api", "-n", "other"], "--name", "two names"),
    ],
)
def test_a_bad_value_is_one_line(v6, v6env, flags, flag, says):
    args = ["--server-url", SERVER, *flags] if "--server-url" not in flags else flags
    result = v6("store", "new", "bad", *args, "--no-input")
    assert result.exit_code == 2, result.stderr
    line = _one_line(result.stderr)
    assert flag in line and says in line
    assert not (v6env.user_config / "store" / "bad.yaml").exists()


@pytest.mark.parametrize(
    ("flags", "flag"),
    [
        (["--algorithm-view", "everyone"], "--algorithm-view"),
        (["--port", "many"], "--port"),
        (["--no-such-flag"], "--no-such-flag"),
    ],
)
def test_a_bad_flag_is_a_usage_error(v6, v6env, flags, flag):
    result = v6("store", "new", "bad", "--server-url", SERVER, *flags, "--no-input")
    assert result.exit_code == 2
    assert flag in _one_line(result.stderr, prefix="Error:")
    assert not (v6env.user_config / "store").exists()


def _v6_without_terminal(env, *args) -> subprocess.CompletedProcess:
    """The installed ``v6`` with no terminal at all (stdin from /dev/null), as in CI."""
    return subprocess.run(
        [V6, *[str(a) for a in args]],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env.environ(),
        timeout=120,
    )


def test_the_wizard_without_a_terminal(v6env, tmp_path):
    """Every question answered by a flag: nothing is asked (and nothing hangs)."""
    port = free_port()
    database = tmp_path / "shelf.sqlite"
    result = _v6_without_terminal(
        v6env,
        "store",
        "new",
        "--name",
        "flags",
        "--host",
        "127.0.0.1",
        "--port",
        port,
        "--api-path",
        "/store",
        "--database-uri",
        f"sqlite:///{database}",
        "--server-url",
        "https://v6.example.org/api/",
        "--root-username",
        "admin",
        "--allowed-server",
        "https://v6.example.org/api",
        "--allowed-server",
        "https://other.example.org/api",
        "--algorithm-view",
        "public",
        "--min-reviewers",
        "3",
        "--min-reviewing-organizations",
        "1",
        "--no-allow-localhost",
        "--no-check",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["api_url"] == f"http://127.0.0.1:{port}/store"
    config = yaml.safe_load((v6env.user_config / "store" / "flags.yaml").read_text())
    assert config == {
        "host": "127.0.0.1",
        "port": port,
        "api_path": "/store",
        "database_uri": f"sqlite:///{database}",
        "root_user": {"v6_server_uri": "https://v6.example.org/api", "username": "admin"},
        "policies": {
            "algorithm_view": "public",
            "min_reviewers": 3,
            "min_reviewing_organizations": 1,
            "allow_localhost": False,
            "allowed_servers": ["https://v6.example.org/api", "https://other.example.org/api"],
        },
    }
    # the defaults where no flag is given; a missing answer without a default names its flag
    defaults = _v6_without_terminal(
        v6env, "store", "new", "plain", "--server-url", "https://v6.example.org/api"
    )
    assert defaults.returncode == 0, defaults.stderr
    plain = yaml.safe_load((v6env.user_config / "store" / "plain.yaml").read_text())
    assert plain["port"] == 7602 and plain["policies"]["min_reviewers"] == 2
    assert plain["policies"]["allow_localhost"] is False and "allowed_servers" not in plain
    assert plain["database_uri"].endswith("/store/plain/store.sqlite")
    missing = _v6_without_terminal(v6env, "store", "new", "nourl")
    assert missing.returncode == 2
    assert "--server-url" in _one_line(missing.stderr)


def test_ports_are_shared_with_servers(v6, v6env):
    assert v6("server", "new", "hq", "--port", "7602", "--no-input").exit_code == 0
    taken = v6("store", "new", "clash", "--port", "7602", "--no-input")
    assert taken.exit_code == 2
    assert "already used by server 'hq'" in _one_line(taken.stderr)
    made = v6("store", "new", "next", "--no-input", "--json")  # the server here is trusted
    assert made.exit_code == 0, made.stderr
    assert json.loads(made.stdout)["api_url"] == "http://127.0.0.1:7603/api"
    server = v6("server", "new", "hq2", "--port", "7603", "--no-input")
    assert server.exit_code == 2 and "already used by store 'next'" in _one_line(server.stderr)


def test_default_ports_are_the_services_own():
    from vantage6_cli.services import DEFAULT_PORTS
    from vantage6_server.settings import ServerSettings
    from vantage6_store.settings import StoreSettings

    assert DEFAULT_PORTS == {
        "server": ServerSettings.model_fields["port"].default,
        "store": StoreSettings.model_fields["port"].default,
    }


def test_start_with_its_port_taken(v6):
    port = free_port()
    made = v6("store", "new", "busy", "--port", port, "--server-url", SERVER, "--no-input")
    assert made.exit_code == 0, made.stderr
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        result = v6("store", "start", "busy")
    assert result.exit_code == 5
    assert f"port {port}" in _one_line(result.stderr)
    assert json.loads(v6("store", "list", "--json").stdout)[0]["status"] == "stopped"


def test_store_names_complete(v6, v6env):
    made = v6("store", "new", "shelf", "--server-url", SERVER, "--no-input")
    assert made.exit_code == 0, made.stderr
    assert "store" in _complete(v6env, "bash", "v6 sto", 1)
    assert "shelf" in _complete(v6env, "bash", "v6 store start sh", 3)
    assert "public" in _complete(v6env, "bash", "v6 store new --algorithm-view pu", 4)


def test_the_wizard_in_a_terminal(v6env):
    """Asked one by one in a real terminal; wrong answers are asked again."""
    from tests.cli.test_wizards import CLEAR_LINE, answer, finish, spawn

    child = spawn(v6env, "store", "new")
    answer(child, "Name of the store", "asked")
    answer(child, "Interface to listen on", "")
    answer(child, "Port", CLEAR_LINE + "0")
    child.expect_exact("must be 1-65535")
    child.send(CLEAR_LINE + "7650\r")
    answer(child, "API path", "")
    answer(child, "Database", "")
    answer(child, "API URL of the vantage6 server", "localhost:7601")
    child.expect_exact("must be an http(s) URL")
    child.send(CLEAR_LINE + "http://localhost:7601/api\r")
    answer(child, "Username (at that server)", CLEAR_LINE + "admin")
    answer(child, "servers that may be whitelisted", "")
    child.expect_exact("does not answer")  # nothing runs there: a warning, not an error
    # "j" moves down (as the arrow key does, without an escape sequence to split): private
    answer(child, "Who may see the approved algorithms?", "j")
    answer(child, "Reviewers an algorithm needs", CLEAR_LINE + "1")
    answer(child, "Organizations its reviewers must come from", CLEAR_LINE + "1")
    answer(child, "May servers on this machine", "")  # the default: yes, the server is local
    child.expect_exact("created")
    assert finish(child) == 0
    config = yaml.safe_load((v6env.user_config / "store" / "asked.yaml").read_text())
    assert config["port"] == 7650
    assert config["root_user"] == {
        "v6_server_uri": "http://localhost:7601/api",
        "username": "admin",
    }
    assert config["policies"] == {
        "algorithm_view": "private",
        "min_reviewers": 1,
        "min_reviewing_organizations": 1,
        "allow_localhost": True,
    }


def test_start_with_a_broken_configuration(v6, v6env):
    """A key the store does not know, or a database that went away: one line, exit 3, and no
    process left behind."""
    made = v6("store", "new", "edited", "--server-url", SERVER, "--no-input")
    assert made.exit_code == 0, made.stderr
    config_file = v6env.user_config / "store" / "edited.yaml"
    data = yaml.safe_load(config_file.read_text())
    config_file.write_text(yaml.safe_dump({**data, "policies": {"min_reviewer": 1}}))
    result = v6("store", "start", "edited")
    assert result.exit_code == 3 and "Traceback" not in result.stderr
    assert "policies.min_reviewer: unknown key" in result.stderr
    gone = f"postgresql://nobody:secret@127.0.0.1:{free_port()}/none"
    config_file.write_text(yaml.safe_dump({**data, "database_uri": gone}))
    result = v6("store", "start", "edited")
    assert result.exit_code == 3
    line = _one_line(result.stderr)
    assert "cannot use its database" in line and "secret" not in line
    assert json.loads(v6("store", "list", "--json").stdout)[0]["status"] == "stopped"


def test_the_trusted_server_is_always_allowed(v6, v6env):
    other = "https://other.example.org/api"
    made = v6(
        "store", "new", "few", "--server-url", SERVER, "--allowed-server", other, "--no-input"
    )
    assert made.exit_code == 0, made.stderr
    config = yaml.safe_load((v6env.user_config / "store" / "few.yaml").read_text())
    assert config["policies"]["allowed_servers"] == [SERVER, other]


def test_a_store_on_postgresql(v6):
    """The database checked by the wizard and used by the started store is PostgreSQL."""
    from tests.cli.test_server_database import _pg_answers
    from tests.livestack import create_pg_database, drop_pg_database

    if not _pg_answers():
        pytest.skip("PostgreSQL does not run on 127.0.0.1:5432")
    uri, name = create_pg_database()
    port = free_port()
    try:
        made = v6(
            "store", "new", "pg", "--port", port, "--database-uri", uri, "--server-url", SERVER,
            "--no-input",
        )  # fmt: skip
        assert made.exit_code == 0, made.stderr
        started = v6("store", "start", "pg")
        assert started.exit_code == 0, started.stderr
        health = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5)
        assert health.json() == {"healthy": True}
        import psycopg

        with psycopg.connect(uri) as conn:
            tables = {row[0] for row in conn.execute("SELECT tablename FROM pg_tables")}
        assert {"algorithm", "review"} <= tables
    finally:
        v6("store", "stop", "--all")
        drop_pg_database(name)
