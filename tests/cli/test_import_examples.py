"""``v6 server import`` of a file shaped like vantage6's own example fixtures (issue 12,
item 7): the given node API keys are used, weak passwords do not stop the import, and a rerun
names the nodes as the first import did. Against a server started with ``v6 server start``."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
import yaml

from tests.cli.conftest import run_v6
from tests.cli.federation import start_federation, stop_federation


def _fixtures(key: str) -> dict:
    """vantage6's example fixtures layout: users with the password 'password', one API key
    for every participant, a ``tasks`` list per collaboration."""

    def org(name: str, users: list[str]) -> dict:
        return {
            "name": name,
            "domain": f"{name.lower().replace(' ', '-')}.example",
            "address1": "Some street 1",
            "address2": None,
            "zipcode": "1234AB",
            "country": "Nowhereland",
            "users": [
                {"username": u, "firstname": u, "lastname": "robot", "password": "password"}
                for u in users
            ],
        }

    def collab(name: str, members: list[str]) -> dict:
        return {
            "name": name,
            "participants": [{"name": m, "api_key": key} for m in members],
            "tasks": ["hello-world"],
            "encrypted": False,
        }

    return {
        "organizations": [
            org("Lighthouse", ["keeper", "ann@lighthouse.example"]),
            org("Harbour", ["pilot"]),
        ],
        "collaborations": [
            collab("ANCHOR", ["Lighthouse", "Harbour"]),
            collab("BUOY", ["Harbour"]),
        ],
    }


@pytest.fixture(scope="module")
def fed(tmp_path_factory):
    federation = start_federation(tmp_path_factory.mktemp("examples"), with_node=False)
    yield federation
    stop_federation(federation)


def test_example_fixtures_import_completely(fed, tmp_path):
    key = str(uuid.uuid4())
    spec = tmp_path / "example_fixtures.yaml"
    spec.write_text(yaml.safe_dump(_fixtures(key)))
    first = run_v6(fed.env, "server", "import", spec, "--json")
    assert first.returncode == 0, first.stderr + first.stdout
    report = json.loads(first.stdout)
    users = [r for r in report if r["kind"] == "user"]
    assert [r["action"] for r in users] == ["created"] * 3
    for row in users:  # a password the server accepts was made, and it works
        assert "not accepted" in row["detail"] and row["password"]
        token = httpx.post(
            f"{fed.api_url}/token/user",
            json={"username": row["name"], "password": row["password"]},
            timeout=10,
        )
        assert token.status_code == 200, token.text
    nodes = [r for r in report if r["kind"] == "node"]
    assert len(nodes) == 3 and all(r["action"] == "created" for r in nodes)
    # the file's key is used (once: the server cannot tell nodes with one key apart)
    assert nodes[0]["api_key"] == key and nodes[0]["detail"] == "api_key: as in the file"
    for row in nodes[1:]:
        assert row["api_key"] != key and "already used" in row["detail"]
    for row in nodes:
        login = httpx.post(
            f"{fed.api_url}/token/node", json={"api_key": row["api_key"]}, timeout=10
        )
        assert login.status_code == 200

    again = run_v6(fed.env, "server", "import", spec, "--json")
    assert again.returncode == 0, again.stderr
    rerun = json.loads(again.stdout)
    assert {r["action"] for r in rerun} == {"exists"}
    assert [(r["name"], r["id"]) for r in rerun if r["kind"] == "node"] == [
        (r["name"], r["id"]) for r in nodes
    ]
