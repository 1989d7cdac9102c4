"""Issue 8 item 13: text fields are validated the same way on SQLite and PostgreSQL.

A NUL character was stored by SQLite and refused by PostgreSQL (as an out-of-range value).
Now every request body refuses NUL and other control characters with a 400 that names the
field; newlines and tabs remain where text may span lines (descriptions, logs).
"""

from __future__ import annotations

import pytest

from tests.api import Api
from tests.livestack import start_server
from tests.server.world import plain_input


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def root(request) -> Api:
    server, cleanup = start_server(request.param)
    yield Api.as_user(server.api_url, server.root_username, server.root_password)
    cleanup()


@pytest.mark.parametrize("bad", ["a\x00b", "bell\x07", "esc\x1b[31m", "del\x7f"])
def test_control_characters_are_refused_with_a_field_error(root: Api, bad: str) -> None:
    resp = root.post("/organization", json={"name": f"org {bad}"})
    assert resp.status_code == 400, resp.text
    assert "name" in resp.json()["errors"]
    org = root.ok("POST", "/organization", json={"name": f"clean {bad!r}"})["id"]
    resp = root.patch(f"/organization/{org}", json={"address1": bad})
    assert resp.status_code == 400 and "address1" in resp.json()["errors"], resp.text
    resp = root.post("/role", json={"name": "r", "description": bad, "rules": []})
    assert resp.status_code == 400 and "description" in resp.json()["errors"], resp.text


def test_nul_is_refused_in_nested_values(root: Api) -> None:
    me = root.ok("POST", "/token/user/validate")
    collab = root.ok(
        "POST",
        "/collaboration",
        json={"name": "text", "encrypted": False, "organization_ids": [me["organization_id"]]},
    )["id"]
    body = {
        "image": "img",
        "collaboration_id": collab,
        "organizations": [{"id": me["organization_id"], "input": plain_input({})}],
        "databases": [{"label": "default", "query": "a\x00b"}],
    }
    resp = root.post("/task", json=body)
    assert resp.status_code == 400, resp.text
    assert "databases" in str(resp.json()["errors"])


def test_multi_line_text_is_kept(root: Api) -> None:
    text = "line one\nline two\r\n\tindented"
    role = root.ok("POST", "/role", json={"name": "multi", "description": text, "rules": []})
    assert root.ok("GET", f"/role/{role['id']}")["description"] == text
    # a one-line field does not take a newline either
    resp = root.post("/organization", json={"name": "two\nlines"})
    assert resp.status_code == 400 and "name" in resp.json()["errors"]


def test_container_log_with_nul_is_stored_alike(root: Api) -> None:
    """A log is what a container wrote: kept, with NUL replaced, so the run still finishes."""
    me = root.ok("POST", "/token/user/validate")
    org = me["organization_id"]
    collab = root.ok(
        "POST",
        "/collaboration",
        json={"name": "logs", "encrypted": False, "organization_ids": [org]},
    )["id"]
    key = root.ok("POST", "/node", json={"collaboration_id": collab, "organization_id": org})
    node = Api.as_node(root.api_url, key["api_key"])
    task = root.ok(
        "POST",
        "/task",
        json={
            "image": "img",
            "collaboration_id": collab,
            "organizations": [{"id": org, "input": plain_input({})}],
        },
    )
    run = root.ok("GET", "/run", params={"task_id": task["id"]})["data"][0]["id"]
    log = "out\x00put\n\x1b[31mred\x1b[0m\tend"
    node.ok("PATCH", f"/run/{run}", json={"status": "crashed", "log": log})
    stored = root.ok("GET", f"/run/{run}")
    assert stored["status"] == "crashed"
    assert stored["log"] == log.replace("\x00", "\ufffd")
