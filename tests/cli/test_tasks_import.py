"""``v6 server import`` and ``v6 task`` against a live server (a stand-in node answers runs)."""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
import yaml

from tests.client.fakenode import FakeNode
from vantage6_client import Client

PASSWORD = "Import-Pass-1!"


def _spec(tag: str) -> dict:
    return {
        "organizations": [
            {
                "name": f"Alpha {tag}",
                "domain": "alpha.example",
                "address1": "Main street 1",
                "zipcode": "1000AA",
                "country": "NL",
                "users": [
                    {
                        "username": f"ann-{tag}",
                        "firstname": "Ann",
                        "lastname": "Alpha",
                        "password": PASSWORD,
                        "roles": ["Researcher"],
                    },
                    {"username": f"weak-{tag}", "password": "password"},
                ],
            },
            {"name": f"Beta {tag}", "country": "BE", "users": []},
        ],
        "collaborations": [
            {
                "name": f"Study {tag}",
                "encrypted": False,
                "participants": [
                    {"name": f"Alpha {tag}", "api_key": "ignored"},
                    {"name": f"Beta {tag}"},
                ],
            },
            {"name": f"Broken {tag}", "participants": [{"name": "Nobody"}]},
        ],
    }


def _import(live_server, spec_file, json_out=True):
    from click.testing import CliRunner

    from vantage6_cli.main import cli

    args = [
        "server",
        "import",
        str(spec_file),
        "--server-url",
        live_server.api_url,
        "--password",
        live_server.root_password,
    ]
    return CliRunner().invoke(cli, args + (["--json"] if json_out else []), env={"NO_COLOR": "1"})


@pytest.fixture(scope="module")
def imported(live_server, tmp_path_factory):
    """Import a federation once per module through ``v6 server import``."""
    tag = uuid.uuid4().hex[:6]
    spec_file = tmp_path_factory.mktemp("import") / "fixtures.yaml"
    spec_file.write_text(yaml.safe_dump(_spec(tag)))
    result = _import(live_server, spec_file)
    client = Client(live_server.api_url)
    client.authenticate(f"ann-{tag}", PASSWORD)
    collabs = client.collaboration.list().data
    client.close()
    report = json.loads(result.stdout)
    return {
        "tag": tag,
        "spec_file": spec_file,
        "result": result,
        "report": report,
        "username": f"ann-{tag}",
        "collaborations": collabs,
        "collaboration": collabs[0]["id"],
        "api_keys": {r["name"]: r["api_key"] for r in report if r["kind"] == "node"},
    }


def test_import(live_server, imported):
    tag = imported["tag"]
    result = imported["result"]
    # an unknown participant is reported, the rest is imported (a weak password is replaced)
    assert result.exit_code == 3, result.stderr
    report = imported["report"]
    actions = {(r["kind"], r["name"]): r["action"] for r in report}
    assert actions[("organization", f"Alpha {tag}")] == "created"
    assert actions[("organization", f"Beta {tag}")] == "created"
    assert actions[("user", f"ann-{tag}")] == "created"
    assert actions[("user", f"weak-{tag}")] == "created"
    weak = next(r for r in report if r["name"] == f"weak-{tag}")
    assert "not accepted" in weak["detail"] and weak["password"] != "password"
    assert actions[("collaboration", f"Study {tag}")] == "created"
    assert actions[("collaboration", f"Broken {tag}")] == "failed"
    nodes = [r for r in report if r["kind"] == "node"]
    assert len(nodes) == 2 and all(r["action"] == "created" and r["api_key"] for r in nodes)
    # the imported user can log in and sees the collaboration
    assert [c["name"] for c in imported["collaborations"]] == [f"Study {tag}"]

    # a second import changes nothing and says so
    again = json.loads(_import(live_server, imported["spec_file"]).stdout)
    assert {r["action"] for r in again if r["action"] != "failed"} == {"exists"}
    table = _import(live_server, imported["spec_file"], json_out=False)
    assert "exists" in table.stdout and f"Alpha {tag}" in table.stdout


def test_import_rejects_bad_files(v6, live_server, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"organisations": []}))
    result = v6(
        "server",
        "import",
        bad,
        "--server-url",
        live_server.api_url,
        "--password",
        live_server.root_password,
    )
    assert result.exit_code == 3
    assert "organisations" in result.stderr and str(bad) in result.stderr


@pytest.fixture(scope="module")
def node_for(imported, live_server):
    """A stand-in node of the researcher's organization."""
    key = next(k for name, k in imported["api_keys"].items() if "Alpha" in name)
    node = FakeNode(live_server.api_url, key)
    yield node
    node.close()


def login_env(live_server, imported) -> dict[str, str]:
    return {
        "V6_SERVER_URL": live_server.api_url,
        "V6_USERNAME": imported["username"],
        "V6_PASSWORD": PASSWORD,
    }


def answer_later(node: FakeNode, task_id: int, result, delay: float = 0.5) -> threading.Thread:
    def work():
        time.sleep(delay)
        for run in node.open_runs():
            if run["task"]["id"] == task_id:
                node.start(run)
                node.finish(run, result)

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def test_task_commands(v6, live_server, imported, node_for):
    env = login_env(live_server, imported)
    collab = str(imported["collaboration"])
    created = v6(
        "task",
        "create",
        "-C",
        collab,
        "-i",
        "localhost/v6-demo:latest",
        "-m",
        "summary",
        "--kwarg",
        'columns=["age"]',
        "--kwarg",
        "label=text",
        "-d",
        "default",
        "--name",
        "cli task",
        "--json",
        env=env,
    )
    assert created.exit_code == 0, created.stderr
    task = json.loads(created.stdout)
    assert task["name"] == "cli task" and task["status"] == "pending"
    task_id = task["id"]

    listed = json.loads(v6("task", "list", "-C", collab, "--json", env=env).stdout)
    assert task_id in [t["id"] for t in listed]
    mine = json.loads(v6("task", "list", "--mine", "--json", env=env).stdout)
    assert [t["id"] for t in mine] == [task_id]
    table = v6("task", "list", "--mine", env=env)
    assert "cli task" in table.stdout and "pending" in table.stdout

    got = json.loads(v6("task", "get", task_id, "--json", env=env).stdout)
    assert got["id"] == task_id and len(got["runs"]) == 1
    # the node sees the input the CLI built
    run = node_for.open_runs()[0]
    assert node_for.read_input(run) == {
        "method": "summary",
        "args": [],
        "kwargs": {"columns": ["age"], "label": "text"},
    }

    thread = answer_later(node_for, task_id, {"age": {"count": 3}})
    waited = v6("task", "wait", task_id, "--json", env=env)
    thread.join()
    assert waited.exit_code == 0, waited.stderr
    report = json.loads(waited.stdout)
    assert report["status"] == "completed" and report["runs"][0]["status"] == "completed"

    results = json.loads(v6("task", "result", task_id, "--json", env=env).stdout)
    assert [r["result"] for r in results] == [{"age": {"count": 3}}]
    shown = v6("task", "result", task_id, env=env)
    assert shown.exit_code == 0 and '"count": 3' in shown.stdout


def test_task_create_wait_and_failures(v6, live_server, imported, node_for):
    env = login_env(live_server, imported)
    collab = str(imported["collaboration"])
    task_id = None

    def answer_new_task():
        nonlocal task_id
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for run in node_for.open_runs():
                task_id = run["task"]["id"]
                node_for.finish(run, [1, 2, 3])
                return
            time.sleep(0.1)

    thread = threading.Thread(target=answer_new_task)
    thread.start()
    result = v6(
        "task",
        "create",
        "-C",
        collab,
        "-i",
        "img",
        "-m",
        "f",
        "--no-database",
        "--wait",
        "--json",
        env=env,
    )
    thread.join()
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["id"] == task_id and report["results"][0]["result"] == [1, 2, 3]

    # still pending: --timeout gives exit code 9
    pending = json.loads(
        v6(
            "task",
            "create",
            "-C",
            collab,
            "-i",
            "img",
            "-m",
            "f",
            "--no-database",
            "--json",
            env=env,
        ).stdout
    )
    timed = v6("task", "wait", pending["id"], "--timeout", "0.5", env=env)
    assert timed.exit_code == 9 and "still pending" in timed.stderr
    # killed: not completed, exit code 8
    killed = v6("task", "kill", pending["id"], "--json", env=env)
    assert killed.exit_code == 0 and json.loads(killed.stdout)["status"] == "killed by user"
    waited = v6("task", "wait", pending["id"], env=env)
    assert waited.exit_code == 8 and "killed by user" in waited.stderr

    # a node that reports failure: exit code 8 and the log is shown
    failing = json.loads(
        v6(
            "task",
            "create",
            "-C",
            collab,
            "-i",
            "img",
            "-m",
            "f",
            "--no-database",
            "--json",
            env=env,
        ).stdout
    )
    run = next(r for r in node_for.open_runs() if r["task"]["id"] == failing["id"])
    node_for.finish(run, None, status="failed")
    res = v6("task", "result", failing["id"], env=env)
    assert res.exit_code == 8 and "no result" in res.stdout


def test_task_login_errors(v6, live_server, imported):
    base = ["task", "list"]
    no_pw = v6(*base, env={"V6_SERVER_URL": live_server.api_url, "V6_USERNAME": "x"})
    assert no_pw.exit_code == 2 and "V6_PASSWORD" in no_pw.stderr
    no_url = v6(*base, "--username", "x", "--password", "y")
    assert no_url.exit_code == 2 and "--server-url" in no_url.stderr
    wrong = v6(*base, env={**login_env(live_server, imported), "V6_PASSWORD": "Wrong-pass-1!"})
    assert wrong.exit_code == 6 and "the server refused" in wrong.stderr
    gone = v6(*base, "--server-url", "http://127.0.0.1:9/api", "-u", "x", "--password", "y")
    assert gone.exit_code == 7 and "cannot reach" in gone.stderr
    missing = v6("task", "get", "999999", env=login_env(live_server, imported))
    assert missing.exit_code == 4
    # one collaboration: it is used; no database named and none reported: a usage error
    no_db = v6("task", "create", "-i", "x", "-m", "y", env=login_env(live_server, imported))
    assert no_db.exit_code == 2 and "your only one" in no_db.stderr
    assert "--database" in no_db.stderr and "--no-database" in no_db.stderr
    bad_json = v6(
        "task",
        "create",
        "-C",
        "1",
        "-i",
        "x",
        "-m",
        "y",
        "--kwargs",
        "{nope",
        env=login_env(live_server, imported),
    )
    assert bad_json.exit_code == 2 and "--kwargs" in bad_json.stderr
