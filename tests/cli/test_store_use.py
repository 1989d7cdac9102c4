"""``v6 store algorithm|review|user`` and ``v6 task create --algorithm`` against a real server
and a real store on loopback: register, submit (file and flags), assign, approve, list by
status, history; a task's function and arguments checked against the store's metadata."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.api import Api
from tests.livestack import LiveServer
from tests.livestore import LiveStore, start_store
from tests.security.auth_fixtures import PASSWORD

IMAGE = "example/average:1.0"
METADATA = {
    "name": "average",
    "description": "mean of a column",
    "image": IMAGE,
    "partitioning": "horizontal",
    "vantage6_version": "4.14",
    "code_url": "https://github.com/example/average",
    "functions": [
        {
            "name": "central_average",
            "type": "central",
            "databases": [{"name": "default"}],
            "arguments": [
                {"name": "column", "type": "column"},
                {
                    "name": "rounding",
                    "type": "integer",
                    "has_default_value": True,
                    "default_value": 2,
                    "allowed_values": [0, 1, 2, 3],
                },
                {"name": "weights", "type": "float_list", "has_default_value": True},
            ],
        },
        {"name": "noop", "type": "central", "arguments": []},
    ],
}


@dataclass
class Setup:
    server: LiveServer
    store: LiveStore
    root: Api
    collaboration: int
    coupling: int
    suffix: int

    def login(self, who: str) -> dict[str, str]:
        if who == "root":
            user, password = self.server.root_username, self.server.root_password
        else:
            user, password = f"{who}{self.suffix}", PASSWORD
        return {
            "V6_SERVER_URL": self.server.api_url,
            "V6_USERNAME": user,
            "V6_PASSWORD": password,
        }


@pytest.fixture(scope="module")
def setup(live_server: LiveServer):
    store, cleanup = start_store(
        {
            "root_user": {
                "v6_server_uri": live_server.api_url,
                "username": live_server.root_username,
            },
            "policies": {
                "allow_localhost": True,
                "min_reviewers": 1,
                "min_reviewing_organizations": 1,
            },
            "digest_resolver": "tests.store.digests:by_name",
        }
    )
    root = Api.as_user(live_server.api_url, live_server.root_username, live_server.root_password)
    suffix = store.port
    orgs = {
        key: root.ok("POST", "/organization", json={"name": f"cli{key}{suffix}"})["id"]
        for key in "AB"
    }
    researcher = root.ok("GET", "/role", params={"name": "Researcher"})["data"][0]["id"]
    for name, org in (("dev", "A"), ("rev", "B")):
        root.ok(
            "POST",
            "/user",
            json={
                "username": f"{name}{suffix}",
                "email": f"{name}{suffix}@example.org",
                "password": PASSWORD,
                "organization_id": orgs[org],
                "roles": [researcher],
            },
        )
    collaboration = root.ok(
        "POST",
        "/collaboration",
        json={"name": f"cli{suffix}", "encrypted": False, "organization_ids": list(orgs.values())},
    )["id"]
    coupling = root.ok(
        "POST",
        "/algorithmstore",
        json={
            "algorithm_store_url": store.url,
            "name": "cli store",
            "server_url": live_server.api_url,
            "collaboration_id": collaboration,
            "force": True,
        },
    )["id"]
    yield Setup(live_server, store, root, collaboration, coupling, suffix)
    cleanup()


def ok(result, code: int = 0):
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    return result


def one_line_error(result, code: int, *words: str) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def approved(setup: Setup, tmp_path_factory) -> dict:
    """``average`` submitted from a YAML file by dev, assigned to rev by root, approved."""
    from click.testing import CliRunner

    from vantage6_cli.main import cli

    runner = CliRunner()

    def v6(who: str, *args: str):
        return runner.invoke(cli, [str(a) for a in args], env=setup.login(who))

    for name, role in (("dev", "Developer"), ("rev", "Reviewer")):
        registered = ok(
            v6(
                "root",
                "store",
                "user",
                "register",
                f"{name}{setup.suffix}",
                "--role",
                role,
                "--json",
            )
        )
        assert json.loads(registered.stdout)["username"] == f"{name}{setup.suffix}"
    meta = tmp_path_factory.mktemp("meta") / "average.yaml"
    meta.write_text(yaml.safe_dump(METADATA))
    # no --store-url: the only store coupled to dev's collaboration
    submitted = json.loads(
        ok(v6("dev", "store", "algorithm", "submit", "--file", meta, "--no-input", "--json")).stdout
    )
    assert submitted["status"] == "awaiting reviewer assignment"
    assert submitted["digest"].startswith("sha256:")
    waiting = json.loads(
        ok(
            v6("dev", "store", "algorithm", "list", "--status", "awaiting-reviewer", "--json")
        ).stdout
    )
    assert submitted["id"] in [a["id"] for a in waiting]
    listed = json.loads(ok(v6("dev", "store", "algorithm", "list", "--json")).stdout)
    assert submitted["id"] not in [a["id"] for a in listed]
    # the developer may not assign a reviewer to their own algorithm: the store's one line
    own = v6(
        "dev", "store", "review", "assign", submitted["id"], "--reviewer", f"rev{setup.suffix}"
    )
    one_line_error(own, 6, "the store refused")
    assigned = json.loads(
        ok(
            v6(
                "root",
                "store",
                "review",
                "assign",
                submitted["id"],
                "--reviewer",
                f"rev{setup.suffix}",
                "--json",
            )
        ).stdout
    )
    assert assigned["algorithm_status"] == "under review"
    mine = json.loads(ok(v6("rev", "store", "review", "list", "--mine", "--json")).stdout)
    assert [r["algorithm_id"] for r in mine] == [submitted["id"]]
    decided = json.loads(
        ok(
            v6(
                "rev",
                "store",
                "review",
                "approve",
                "--algorithm",
                submitted["id"],
                "-m",
                "fine",
                "--json",
            )
        ).stdout
    )
    assert decided["algorithm_status"] == "approved"
    assert decided["review"]["comment"] == "fine"
    return submitted


def test_review_workflow_from_the_command_line(v6, setup: Setup, approved: dict) -> None:
    env = setup.login("dev")
    listed = json.loads(ok(v6("store", "algorithm", "list", "--json", env=env)).stdout)
    assert [a["name"] for a in listed if a["id"] == approved["id"]] == ["average"]
    history = json.loads(
        ok(v6("store", "algorithm", "history", approved["id"], "--json", env=env)).stdout
    )
    assert [e["to_status"] for e in history][-2:] == ["under review", "approved"]
    shown = ok(v6("store", "algorithm", "show", approved["id"], env=setup.login("root")))
    assert "central_average" in shown.stdout and "rounding: integer = 2" in shown.stdout
    assert "fine" in shown.stdout  # the review's comment
    by_url = ok(v6("store", "algorithm", "list", "--store-url", setup.store.url, "--json", env=env))
    assert json.loads(by_url.stdout) == listed
    coupled = json.loads(ok(v6("store", "coupled", "--json", env=env)).stdout)
    assert [s["id"] for s in coupled] == [setup.coupling]
    # the Python form the quickstart and the researcher guide show
    from vantage6_client import Client

    with Client(setup.server.api_url) as client:
        client.authenticate(f"dev{setup.suffix}", PASSWORD)
        params = {"collaboration_id": setup.collaboration}
        stores = client.request("algorithmstore", params=params)["data"]
    assert [s["id"] for s in stores] == [setup.coupling]


def test_submit_from_flags_and_bad_input(v6, setup: Setup, tmp_path: Path) -> None:
    env = setup.login("dev")
    flags = [
        "store", "algorithm", "submit", "--no-input", "--json", "--name", "counter",
        "--image", "example/counter:2", "--code-url", "https://example.org/counter",
        "--function", "count:federated", "--function", "total:central",
        "--argument", "count.column:column", "--argument", "count.limit:integer=10",
        "--database", "count.default",
    ]  # fmt: skip
    made = json.loads(ok(v6(*flags, env=env)).stdout)
    functions = {f["name"]: f for f in made["functions"]}
    assert functions["count"]["type"] == "federated" and functions["total"]["type"] == "central"
    limit = [a for a in functions["count"]["arguments"] if a["name"] == "limit"][0]
    assert limit["has_default_value"] and limit["default_value"] == "10"
    assert [d["name"] for d in functions["count"]["databases"]] == ["default"]

    base = ["store", "algorithm", "submit", "--no-input"]
    one_line_error(v6(*base, "--name", "x", "--image", "i", env=env), 2, "--code-url")
    full = [*base, "--name", "x", "--image", "i", "--code-url", "https://e.org"]
    one_line_error(v6(*full, env=env), 2, "needs functions")
    one_line_error(v6(*full, "--function", "f:sideways", env=env), 2, "central or federated")
    one_line_error(
        v6(*full, "--function", "f", "--argument", "f.a:number", env=env), 2, "unknown type"
    )
    one_line_error(
        v6(*full, "--function", "f", "--argument", "g.a:integer", env=env), 2, "no function 'g'"
    )
    one_line_error(
        v6(*full, "--function", "f", "--argument", "f.a:integer=ten", env=env), 2, "whole number"
    )
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    one_line_error(v6(*base, "--file", broken, env=env), 2, "not valid JSON or YAML")
    listing = tmp_path / "list.json"
    listing.write_text("[1, 2]")
    one_line_error(v6(*base, "--file", listing, env=env), 2, "must hold a mapping")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({**METADATA, "partitioning": "diagonal"}))
    one_line_error(v6(*base, "--file", wrong, env=env), 2, "--partitioning", "horizontal")
    bad_default = json.loads(json.dumps(METADATA))
    bad_default["functions"][0]["arguments"][1]["default_value"] = "two"
    wrong.write_text(json.dumps(bad_default))
    one_line_error(v6(*base, "--file", wrong, env=env), 6, "the store refused", "default_value")
    one_line_error(
        v6("store", "algorithm", "list", "--store-url", "http://127.0.0.1:9", env=env),
        7,
        "cannot be reached",
    )
    one_line_error(
        v6("store", "review", "assign", "1", "--reviewer", "ghost", env=setup.login("root")),
        4,
        "no user 'ghost'",
    )


def _tasks(setup: Setup) -> int:
    return len(
        setup.root.ok("GET", "/task", params={"collaboration_id": setup.collaboration})["data"]
    )


def test_task_create_checks_the_store_metadata(v6, setup: Setup, approved: dict) -> None:
    env = setup.login("dev")
    base = ["task", "create", "--algorithm", "average", "--database", "default"]
    before = _tasks(setup)
    cases = [
        (["--function", "median"], 2, "no such function"),
        (["--function", "central_average"], 2, "needs column"),
        (["--function", "central_average", "--arg", "column=age", "--arg", "colour=red"], 2,
         "no such argument"),
        (["--function", "central_average", "--arg", "column=age", "--arg", "rounding=two"], 2,
         "not a whole number"),
        (["--function", "central_average", "--arg", "column=age", "--arg", "rounding=7"], 2,
         "not one of"),
        (["--function", "central_average", "--arg", "column=age", "--arg", "weights=[1, x]"], 2,
         "not a JSON list"),
        (["--function", "central_average", "--arg", "column=age", "--kwargs", "{}"], 2,
         "--arg NAME=VALUE"),
    ]  # fmt: skip
    for extra, code, words in cases:
        one_line_error(v6(*base, *extra, env=env), code, words)
    unknown = v6("task", "create", "--algorithm", "nothing", "--function", "f", env=env)
    one_line_error(unknown, 4, "no approved algorithm")
    other_image = v6(*base, "--image", "example/other:1", "--function", "noop", env=env)
    one_line_error(other_image, 2, "approved as example/average:1.0")
    both = v6("store", "algorithm", "list", "--store", "1", "--store-url", "http://x", env=env)
    one_line_error(both, 2, "not both")
    assert _tasks(setup) == before  # nothing was created

    created = json.loads(
        ok(
            v6(*base, "--function", "central_average", "--arg", "column=age",
               "--arg", "weights=0.5,1.5", "--json", env=env)
        ).stdout
    )  # fmt: skip
    assert created["image"] == f"{IMAGE}@{approved['digest']}"
    task = setup.root.ok("GET", f"/task/{created['id']}")
    assert task["algorithm_store"]["id"] == setup.coupling
    runs = setup.root.ok("GET", "/run", params={"task_id": created["id"]})["data"]
    sent = json.loads(__import__("base64").b64decode(runs[0]["input"]))
    assert sent == {
        "method": "central_average",
        "args": [],
        "kwargs": {"column": "age", "weights": [0.5, 1.5]},
    }
    # a function that declares no database needs no --database
    noop = ok(
        v6("task", "create", "--algorithm", "average", "--function", "noop", "--json", env=env)
    )
    assert json.loads(noop.stdout)["databases"] == []


def test_a_subtask_comes_from_its_parents_store(v6, setup: Setup, approved: dict) -> None:
    """Nodes that trust only stores see the store on subtasks too (as in vantage6 4.14)."""
    env = setup.login("dev")
    created = json.loads(
        ok(
            v6("task", "create", "--algorithm", "average", "--function", "noop", "--json",
               env=env)
        ).stdout
    )  # fmt: skip
    org = created["init_org"]["id"]
    node_key = setup.root.ok(
        "POST", "/node", json={"collaboration_id": setup.collaboration, "organization_id": org}
    )["api_key"]
    node = Api.as_node(setup.server.api_url, node_key)
    token = node.ok(
        "POST", "/token/container", json={"task_id": created["id"], "image": created["image"]}
    )["container_token"]
    container = Api(setup.server.api_url, token)
    child = container.ok(
        "POST",
        "/task",
        json={
            "image": created["image"],
            "collaboration_id": setup.collaboration,
            "name": "partial",
            "organizations": [{"id": org, "input": "e30="}],
        },
    )
    assert child["parent"]["id"] == created["id"]
    assert setup.root.ok("GET", f"/task/{child['id']}")["algorithm_store"]["id"] == setup.coupling
    # (last: from here on dev is in two collaborations)
    members = {"collaboration_id": setup.collaboration}
    member = setup.root.ok("GET", "/organization", params=members)["data"][0]
    storeless = setup.root.ok(
        "POST",
        "/collaboration",
        json={
            "name": f"nostore{setup.suffix}",
            "encrypted": False,
            "organization_ids": [member["id"]],
        },
    )["id"]
    no_store = v6(
        "task", "create", "--algorithm", "average", "--collaboration", storeless,
        "--function", "noop", env=env,
    )  # fmt: skip
    one_line_error(no_store, 4, "no algorithm store is coupled")
