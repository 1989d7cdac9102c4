"""``v6 server`` and ``v6 node`` through click's runner, with real config files and real
server processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.cli.conftest import V6, run_v6
from vantage6_cli.main import cli


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_help_and_version(v6):
    result = v6("--help")
    assert result.exit_code == 0
    for group in ("server", "node", "sandbox", "task", "algorithm", "completion"):
        assert group in result.stdout
    assert v6("--version").stdout.startswith("v6, version")
    helped = v6("node", "new", "--help").stdout
    assert "else 7601]" in helped and "--api-key" in helped


def test_every_data_command_has_json():
    """Every command that prints data takes --json."""
    without = {"logs", "attach", "completion", "set-api-key"}
    missing = []

    def walk(command, path):
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                walk(sub, [*path, name])
            return
        if path[-1] in without or command.hidden:
            return
        if "as_json" not in {p.name for p in command.params}:
            missing.append(" ".join(path))

    walk(cli, ["v6"])
    assert missing == []


# -- server new ------------------------------------------------------------------------------
def test_server_new_defaults(v6, v6env):
    result = v6("server", "new", "hq", "--no-input", "--json")
    assert result.exit_code == 0, result.stderr
    facts = json.loads(result.stdout)
    config = v6env.user_config / "server" / "hq.yaml"
    assert facts["config_file"] == str(config)
    data = yaml.safe_load(config.read_text())
    assert data["port"] == 7601 and data["host"] == "127.0.0.1" and data["api_path"] == "/api"
    assert data["database_uri"].startswith("sqlite:///") and "server/hq" in data["database_uri"]
    password_file = Path(facts["root_password_file"])
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert len(password_file.read_text().strip()) >= 12
    # the second time it exists
    again = v6("server", "new", "hq", "--no-input")
    assert again.exit_code == 5
    assert "already exists" in again.stderr and "--overwrite" in again.stderr
    assert v6("server", "new", "hq", "--no-input", "--overwrite", "--port", "7700").exit_code == 0
    assert yaml.safe_load(config.read_text())["port"] == 7700


def test_server_new_flags_and_validation(v6, v6env):
    result = v6(
        "server",
        "new",
        "flags",
        "--port",
        "7611",
        "--host",
        "0.0.0.0",
        "--api-path",
        "/v6api",
        "--two-factor",
        "--root-password",
        "Very-Secret-Pw-1",
        "--no-input",
    )
    assert result.exit_code == 0, result.stderr
    data = yaml.safe_load((v6env.user_config / "server" / "flags.yaml").read_text())
    assert data == {
        "host": "0.0.0.0",
        "port": 7611,
        "api_path": "/v6api",
        "database_uri": data["database_uri"],
        "two_factor_auth": True,
        "large_result_store": data["large_result_store"],
    }
    # blobs in a folder next to the server's data unless --storage says otherwise
    assert data["large_result_store"]["type"] == "filesystem"
    assert data["large_result_store"]["path"].endswith("/server/flags/blobs")
    pw = v6env.user_data / "server" / "flags" / "root-password"
    assert pw.read_text().strip() == "Very-Secret-Pw-1"

    weak = v6("server", "new", "weak", "--root-password", "short", "--no-input")
    assert weak.exit_code == 2 and "--root-password" in weak.stderr
    port = v6("server", "new", "badport", "--port", "70000", "--no-input")
    assert port.exit_code == 2 and "--port" in port.stderr
    name = v6("server", "new", "bad/name", "--no-input")
    assert name.exit_code == 2 and "NAME" in name.stderr or "invalid name" in name.stderr


def test_missing_answers_name_the_flags(v6):
    # --no-input
    result = v6("server", "new", "--no-input")
    assert result.exit_code == 2
    assert "pass NAME" in result.stderr
    # no terminal (the runner's stdin is not a tty): same, without --no-input
    result = v6("node", "new", "station")
    assert result.exit_code == 2
    assert "--api-key" in result.stderr
    assert "no terminal" in result.stderr


def test_system_scope_and_config_path(v6, v6env):
    assert v6("server", "new", "shared", "--system", "--no-input").exit_code == 0
    assert (v6env.system_config / "server" / "shared.yaml").is_file()
    listed = json.loads(v6("server", "list", "--json").stdout)
    assert [(i["name"], i["scope"]) for i in listed] == [("shared", "system")]
    # the user scope does not have it
    assert v6("server", "files", "shared").exit_code == 4
    files = json.loads(v6("server", "files", "shared", "--system", "--json").stdout)
    assert files["config"] == str(v6env.system_config / "server" / "shared.yaml")
    # any file with -c
    path = v6env.root / "elsewhere" / "custom.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump({"port": 7999}))
    files = json.loads(v6("server", "files", "-c", path, "--json").stdout)
    assert files["config"] == str(path)
    assert files["data"] == str(path.parent / "custom-data")
    missing = v6("server", "files", "-c", v6env.root / "nope.yaml")
    assert missing.exit_code == 4


def test_invalid_configs_name_key_and_file(v6, v6env):
    assert v6("server", "new", "broken", "--no-input").exit_code == 0
    config = v6env.user_config / "server" / "broken.yaml"
    data = yaml.safe_load(config.read_text())
    data["prot"] = 7000
    data["port"] = "not-a-port"
    config.write_text(yaml.safe_dump(data))
    result = v6("server", "start", "broken")
    assert result.exit_code == 3
    assert str(config) in result.stderr
    assert "prot" in result.stderr and "unknown key" in result.stderr
    assert "port" in result.stderr

    config.write_text("port: [unclosed\n")
    result = v6("server", "start", "broken")
    assert result.exit_code == 3 and "not valid YAML" in result.stderr

    node_cfg = v6env.user_config / "node" / "bad.yaml"
    node_cfg.parent.mkdir(parents=True)
    node_cfg.write_text(
        yaml.safe_dump(
            {
                "api_key": "k",
                "server_url": "ftp://nowhere",
                "databases": [{"label": "1bad", "uri": "x.csv"}],
            }
        )
    )
    result = v6("node", "start", "bad")
    assert result.exit_code == 3
    assert str(node_cfg) in result.stderr
    assert "server_url" in result.stderr and "databases[0].label" in result.stderr


def test_unknown_instance(v6):
    result = v6("server", "start", "ghost")
    assert result.exit_code == 4
    assert "no server named 'ghost'" in result.stderr
    assert "v6 server new ghost" in result.stderr
    assert v6("node", "logs").exit_code == 4


# -- node new ----------------------------------------------------------------------------------
def test_node_new_flags(v6, v6env, tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    result = v6(
        "node",
        "new",
        "station1",
        "--server-url",
        "http://10.0.0.5",
        "--port",
        "5000",
        "--api-path",
        "/api",
        "--api-key",
        "secret-key",
        "--database",
        f"default={data}",
        "--database",
        "other=postgresql://u@db/x",
        "--database-type",
        "other=sql",
        "--encryption",
        "--runtime",
        "podman",
        "--no-pull",
        "--allowed-algorithm",
        "localhost/v6-demo.*",
        "--no-check",
        "--no-input",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    config = v6env.user_config / "node" / "station1.yaml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600  # it holds the API key
    written = yaml.safe_load(config.read_text())
    assert written["api_key"] == "secret-key"
    assert written["server_url"] == "http://10.0.0.5" and written["port"] == 5000
    assert written["databases"] == [
        {"label": "default", "uri": str(data), "type": "csv"},
        {"label": "other", "uri": "postgresql://u@db/x", "type": "sql"},
    ]
    assert written["encryption"]["enabled"] is True
    assert written["encryption"]["private_key"].endswith("station1/private_key.pem")
    assert written["policies"] == {
        "require_algorithm_pull": False,
        "allowed_algorithms": ["localhost/v6-demo.*"],
    }
    assert written["task_dir"] == str(v6env.user_data / "node" / "station1" / "tasks")
    assert json.loads(result.stdout)["databases"] == ["default", "other"]

    # a data file that does not exist is a configuration error naming the flag and the file
    bad = v6("node", "new", "station2", "--api-key", "k", "--database", "d=/nope.csv", "--no-check")
    assert bad.exit_code == 3
    assert "--database d" in bad.stderr and "/nope.csv" in bad.stderr
    assert not (v6env.user_config / "node" / "station2.yaml").exists()
    wrong = v6("node", "new", "s3", "--api-key", "k", "--database", "nolabel", "--no-check")
    assert wrong.exit_code == 2 and "LABEL=URI" in wrong.stderr


def test_node_set_api_key_and_private_key(v6, v6env):
    assert v6("node", "new", "n1", "--api-key", "old", "--no-check", "--no-input").exit_code == 0
    config = v6env.user_config / "node" / "n1.yaml"
    assert v6("node", "set-api-key", "n1", "--no-input").exit_code == 2
    assert v6("node", "set-api-key", "n1", "--api-key", "new").exit_code == 0
    assert yaml.safe_load(config.read_text())["api_key"] == "new"

    result = v6("node", "create-private-key", "n1", "--encryption", "--json")
    assert result.exit_code == 0, result.stderr
    facts = json.loads(result.stdout)
    key = Path(facts["private_key"])
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert facts["uploaded"] is False and facts["public_key"]
    enc = yaml.safe_load(config.read_text())["encryption"]
    assert enc == {"enabled": True, "private_key": str(key)}
    again = v6("node", "create-private-key", "n1")
    assert again.exit_code == 5 and "--overwrite" in again.stderr
    assert v6("node", "create-private-key", "n1", "--overwrite").exit_code == 0


# -- processes -------------------------------------------------------------------------------
def test_server_lifecycle(v6, v6env):
    port = free_port()
    assert v6("server", "new", "life", "--port", port, "--no-input").exit_code == 0
    started = v6("server", "start", "life", "--json")
    assert started.exit_code == 0, started.stderr
    facts = json.loads(started.stdout)
    try:
        assert facts["api_url"] == f"http://127.0.0.1:{port}/api"
        assert httpx.get(facts["api_url"] + "/version", timeout=5).status_code == 200
        # the root password from the data folder works
        password = (v6env.user_data / "server" / "life" / "root-password").read_text().strip()
        token = httpx.post(
            facts["api_url"] + "/token/user",
            json={"username": "root", "password": password},
            timeout=10,
        )
        assert token.status_code == 200

        twice = v6("server", "start", "life")
        assert twice.exit_code == 5
        assert "already running" in twice.stderr and f"pid {facts['pid']}" in twice.stderr

        listed = json.loads(v6("server", "list", "--json").stdout)
        assert listed == [
            {
                "name": "life",
                "scope": "user",
                "status": "running",
                "pid": facts["pid"],
                "config": str(v6env.user_config / "server" / "life.yaml"),
            }
        ]
        table = v6("server", "list")
        assert "running" in table.stdout and "life" in table.stdout

        # import through the instance: its URL and root password file are used
        spec = v6env.root / "import.yaml"
        spec.write_text(
            yaml.safe_dump(
                {
                    "organizations": [{"name": "Imported org", "users": []}],
                    "collaborations": [
                        {"name": "Imported collab", "participants": [{"name": "Imported org"}]}
                    ],
                }
            )
        )
        imported = v6("server", "import", spec, "--json")  # the only running server
        assert imported.exit_code == 0, imported.stderr
        kinds = {(r["kind"], r["action"]) for r in json.loads(imported.stdout)}
        assert kinds == {
            ("organization", "created"),
            ("collaboration", "created"),
            ("node", "created"),
        }
        again = v6("server", "import", spec, "--name", "life", "--json")
        assert {r["action"] for r in json.loads(again.stdout)} == {"exists"}

        logs = v6("server", "logs", "life", "-n", "50")
        assert logs.exit_code == 0 and "Uvicorn running" in logs.stdout

        busy = v6("server", "remove", "life", "--yes")
        assert busy.exit_code == 5 and "stop it first" in busy.stderr

        # another configured server's port: refused when the configuration is made
        clash = v6("server", "new", "clash", "--port", port, "--no-input")
        assert clash.exit_code == 2 and "already used by server 'life'" in clash.stderr
        # a port some other program holds: a clear error at start, no process left behind
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", 0))
            holder.listen()
            busy_port = holder.getsockname()[1]
            made = v6("server", "new", "clash", "--port", busy_port, "--no-input")
            assert made.exit_code == 0, made.stderr
            clash = v6("server", "start", "clash")
        assert clash.exit_code == 5 and "already in use" in clash.stderr
    finally:
        stopped = v6("server", "stop", "--all", "--json")
    assert stopped.exit_code == 0
    assert json.loads(stopped.stdout) == [{"name": "life", "was": "running", "pid": facts["pid"]}]
    assert not _alive(facts["pid"])
    assert json.loads(v6("server", "list", "--json").stdout)[1]["status"] == "stopped"
    not_running = v6("server", "stop", "life")
    assert not_running.exit_code == 0 and "was not running" in not_running.stderr

    # a crash leaves a pid file whose process is gone: reported, and start works again
    pid_file = v6env.user_data / "server" / "life" / "server.pid"
    pid_file.write_text(json.dumps({"pid": facts["pid"], "started": 0, "argv": []}))
    assert json.loads(v6("server", "list", "--json").stdout)[1]["status"] == "crashed"

    assert v6("server", "remove", "life").exit_code == 2  # no terminal, no --yes
    removed = v6("server", "remove", "life", "--yes", "--json")
    assert removed.exit_code == 0
    assert not (v6env.user_config / "server" / "life.yaml").exists()
    assert not (v6env.user_data / "server" / "life").exists()


def test_attach_and_follow_in_a_subprocess(v6env):
    port = free_port()
    assert run_v6(v6env, "server", "new", "att", "--port", port, "--no-input").returncode == 0
    attach = subprocess.Popen(
        [V6, "server", "start", "att", "--attach"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=v6env.environ(),
    )
    follower = None
    try:
        seen = ""
        deadline = time.monotonic() + 60
        while "Application startup complete" not in seen and time.monotonic() < deadline:
            seen += attach.stdout.readline()
        assert "Application startup complete" in seen
        # Ctrl-C stops following, not the server
        attach.send_signal(signal.SIGINT)
        _, err = attach.communicate(timeout=20)
        assert attach.returncode == 0
        assert "keeps running" in err
        status = json.loads(run_v6(v6env, "server", "list", "--json").stdout)[0]
        assert status["status"] == "running"
        # logs -f ends by itself when the server stops
        follower = subprocess.Popen(
            [V6, "server", "logs", "att", "-f"],
            stdout=subprocess.PIPE,
            text=True,
            env=v6env.environ(),
        )
        time.sleep(1.0)
        assert run_v6(v6env, "server", "stop", "att").returncode == 0
        out, _ = follower.communicate(timeout=30)
        assert follower.returncode == 0
        assert "Uvicorn running" in out
    finally:
        for proc in (attach, follower):
            if proc is not None and proc.poll() is None:
                proc.kill()
        run_v6(v6env, "server", "stop", "att")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/status") as fp:
            return not any(line.startswith("State:") and "Z" in line for line in fp)
    except OSError:
        return False


@pytest.mark.containers
def test_node_lifecycle(v6, v6env, live_server, tmp_path):
    from tests.api import Api

    if shutil.which("podman") is None:
        pytest.skip("podman is not installed")

    root = Api.as_user(live_server.api_url, live_server.root_username, live_server.root_password)
    org = root.ok("POST", "/organization", json={"name": f"cli-node-{tmp_path.name}"})
    collab = root.ok(
        "POST",
        "/collaboration",
        json={
            "name": f"cli-c-{tmp_path.name}",
            "organization_ids": [org["id"]],
            "encrypted": False,
        },
    )
    node = root.ok(
        "POST", "/node", json={"collaboration_id": collab["id"], "organization_id": org["id"]}
    )
    data = tmp_path / "data.csv"
    data.write_text("age\n1\n2\n")
    created = v6(
        "node",
        "new",
        "station",
        "--api-key",
        node["api_key"],
        "--port",
        live_server.port,
        "--database",
        f"default={data}",
        "--no-pull",
        "--no-input",
    )
    assert created.exit_code == 0, created.stderr
    started = v6("node", "start", "station", "--json")
    assert started.exit_code == 0, started.stderr
    pid = json.loads(started.stdout)["pid"]
    try:
        deadline = time.monotonic() + 60
        while root.ok("GET", f"/node/{node['id']}")["status"] != "online":
            assert time.monotonic() < deadline, v6("node", "logs", "station").stdout
            time.sleep(0.3)
        assert v6("node", "start", "station").exit_code == 5
        listed = json.loads(v6("node", "list", "--json").stdout)
        assert listed[0]["status"] == "online" and listed[0]["pid"] == pid
        files = json.loads(v6("node", "files", "station", "--json").stdout)
        assert files["database default"] == str(data)
    finally:
        ident_file = v6env.user_data / "node" / "station" / "tasks" / "node.json"
        stopped = v6("node", "stop", "station")
    assert stopped.exit_code == 0, stopped.stderr
    assert not _alive(pid)
    # the node's containers (e.g. its forwarder pool) are gone too
    ident = json.loads(ident_file.read_text())["instance_id"]
    env = {**os.environ}
    env.setdefault(
        "CONTAINERS_CONF", str(Path(__file__).parents[2] / "containers" / "containers.conf")
    )
    left = subprocess.run(
        ["podman", "ps", "-a", "-q", "--filter", f"label=v6node.instance={ident}"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert left.stdout.strip() == ""
    deadline = time.monotonic() + 30
    while root.ok("GET", f"/node/{node['id']}")["status"] != "offline":
        assert time.monotonic() < deadline
        time.sleep(0.3)


def test_private_key_upload_and_node_remove(v6, v6env, live_server, tmp_path):
    from tests.api import Api
    from vantage6_common import crypto

    root = Api.as_user(live_server.api_url, live_server.root_username, live_server.root_password)
    org = root.ok("POST", "/organization", json={"name": f"keys-{tmp_path.name}"})
    admin_role = root.ok("GET", "/role", params={"name": "Organization Admin"})["data"][0]
    username = f"admin-{tmp_path.name}"[:60]
    root.ok(
        "POST",
        "/user",
        json={
            "username": username,
            "email": f"{username}@example.org",
            "password": "Org-Admin-Pass-1!",
            "organization_id": org["id"],
            "roles": [admin_role["id"]],
        },
    )
    assert (
        v6(
            "node",
            "new",
            "keyed",
            "--api-key",
            "k",
            "--port",
            live_server.port,
            "--no-check",
            "--no-input",
        ).exit_code
        == 0
    )
    result = v6(
        "node",
        "create-private-key",
        "keyed",
        "--upload",
        "--username",
        username,
        "--password",
        "Org-Admin-Pass-1!",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    facts = json.loads(result.stdout)
    assert facts["uploaded"] is True
    on_server = root.ok("GET", f"/organization/{org['id']}")["public_key"]
    assert crypto.Cryptor(facts["private_key"]).verify_public_key(on_server)

    removed = v6("node", "remove", "keyed", "--yes")
    assert removed.exit_code == 0
    assert not (v6env.user_config / "node" / "keyed.yaml").exists()
    assert not Path(facts["private_key"]).exists()
