"""Issue 8 item 3: ids never come back after a delete, and a token dies with its subject.

SQLite without AUTOINCREMENT hands a deleted row's id to the next row; tokens that name their
subject only by id then worked again for a stranger (another organization, another
collaboration). Each test attacks a live server on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest

from tests.api import Api
from tests.livestack import LiveServer
from tests.security.auth_fixtures import BACKENDS, login, make_user, refresh, root, server
from tests.server.seeding import plain_input

IMAGE = "example.org/algo:1"


@pytest.fixture(scope="module", params=BACKENDS)
def live(request) -> LiveServer:
    with server(request.param) as live:
        yield live


@pytest.fixture(scope="module")
def admin(live: LiveServer) -> Api:
    return root(live)


def _org_collab_node(admin: Api, tag: str) -> tuple[int, int, dict]:
    org = admin.ok("POST", "/organization", json={"name": f"{tag} org"})["id"]
    # the admin's own organization takes part: only members create tasks
    own = admin.ok("POST", "/token/user/validate")["organization_id"]
    collab = admin.ok(
        "POST",
        "/collaboration",
        json={"name": f"{tag} collab", "encrypted": False, "organization_ids": [org, own]},
    )["id"]
    node = admin.ok("POST", "/node", json={"collaboration_id": collab, "organization_id": org})
    return org, collab, node


def _task(admin: Api, collab: int, org: int, secret: str) -> dict:
    return admin.ok(
        "POST",
        "/task",
        json={
            "name": "t",
            "image": IMAGE,
            "collaboration_id": collab,
            "organizations": [{"id": org, "input": plain_input({"secret": secret})}],
            "databases": [{"label": "default"}],
        },
    )


def _node_tokens(live: LiveServer, api_key: str) -> dict:
    resp = httpx.post(live.api_url + "/token/node", json={"api_key": api_key}, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_deleted_node_token_never_works_for_the_next_node(live: LiveServer, admin: Api) -> None:
    _, _, old_node = _org_collab_node(admin, "gone")
    old = _node_tokens(live, old_node["api_key"])
    admin.ok("DELETE", f"/node/{old_node['id']}")

    org, collab, new_node = _org_collab_node(admin, "victim")
    assert new_node["id"] > old_node["id"], "a node id came back after a delete"
    task = _task(admin, collab, org, "victim-data")
    run = admin.ok("GET", "/run", params={"task_id": task["id"]})["data"][0]

    thief = Api(live.api_url, old["access_token"])
    assert thief.get("/run", params={"task_id": task["id"]}).status_code == 401
    assert thief.get(f"/run/{run['id']}").status_code == 401
    forged = thief.patch(f"/run/{run['id']}", json={"result": plain_input({"forged": 1})})
    assert forged.status_code == 401
    assert refresh(live, old["refresh_token"]).status_code == 401
    # the new node itself is fine
    mine = Api(live.api_url, _node_tokens(live, new_node["api_key"])["access_token"])
    assert mine.get(f"/run/{run['id']}").status_code == 200


def test_deleted_user_token_never_works_for_the_next_user(live: LiveServer, admin: Api) -> None:
    old_user = make_user(admin, "leaver")
    old = login(live, "leaver", "Start-Pass-1!").json()
    admin.ok("DELETE", f"/user/{old_user['id']}")

    other_org = admin.ok("POST", "/organization", json={"name": "newcomer org"})["id"]
    new_user = make_user(admin, "newcomer", org=other_org)
    assert new_user["id"] > old_user["id"], "a user id came back after a delete"

    thief = Api(live.api_url, old["access_token"])
    assert thief.get(f"/user/{new_user['id']}").status_code == 401
    assert thief.post("/token/user/validate").status_code == 401
    assert refresh(live, old["refresh_token"]).status_code == 401


def test_deleted_task_container_token_never_works_for_the_next_task(
    live: LiveServer, admin: Api
) -> None:
    org, collab, node = _org_collab_node(admin, "containers")
    node_api = Api(live.api_url, _node_tokens(live, node["api_key"])["access_token"])
    first = _task(admin, collab, org, "first")
    old_token = node_api.ok(
        "POST", "/token/container", json={"task_id": first["id"], "image": IMAGE}
    )["container_token"]
    admin.ok("DELETE", f"/task/{first['id']}")

    second = _task(admin, collab, org, "second")
    assert second["id"] > first["id"], "a task id came back after a delete"
    fresh = node_api.ok("POST", "/token/container", json={"task_id": second["id"], "image": IMAGE})[
        "container_token"
    ]
    assert Api(live.api_url, fresh).get(f"/task/{second['id']}").status_code == 200

    thief = Api(live.api_url, old_token)
    assert thief.get(f"/task/{second['id']}").status_code == 401
    assert thief.get("/run", params={"task_id": second["id"]}).status_code == 401


def test_no_id_comes_back_after_a_delete(live: LiveServer, admin: Api) -> None:
    """Delete the newest row of each kind, make another: it gets a new id."""

    def twice(make, delete) -> tuple[int, int]:
        first = make("a")
        delete(first)
        return first, make("b")

    org, collab, _ = _org_collab_node(admin, "ids")

    def new_org(tag):
        return admin.ok("POST", "/organization", json={"name": f"ids org {tag}"})["id"]

    def new_collab(tag):
        return admin.ok(
            "POST",
            "/collaboration",
            json={"name": f"ids collab {tag}", "encrypted": False, "organization_ids": [org]},
        )["id"]

    def new_study(tag):
        return admin.ok(
            "POST",
            "/study",
            json={
                "name": f"ids study {tag}",
                "collaboration_id": collab,
                "organization_ids": [org],
            },
        )["id"]

    def new_role(tag):
        return admin.ok("POST", "/role", json={"name": f"ids role {tag}", "rules": []})["id"]

    def new_task(tag):
        return _task(admin, collab, org, tag)["id"]

    def new_user(tag):
        return make_user(admin, f"ids_user_{tag}")["id"]

    cases = {
        "organization": (new_org, lambda i: admin.ok("DELETE", f"/organization/{i}")),
        "collaboration": (new_collab, lambda i: admin.ok("DELETE", f"/collaboration/{i}")),
        "study": (new_study, lambda i: admin.ok("DELETE", f"/study/{i}")),
        "role": (new_role, lambda i: admin.ok("DELETE", f"/role/{i}")),
        "task": (new_task, lambda i: admin.ok("DELETE", f"/task/{i}")),
        "user": (new_user, lambda i: admin.ok("DELETE", f"/user/{i}")),
    }
    reused = {}
    for kind, (make, delete) in cases.items():
        first, second = twice(make, delete)
        if second <= first:
            reused[kind] = (first, second)
    assert not reused, f"ids came back after a delete: {reused}"


def _execute(live: LiveServer, *statements: str) -> None:
    """Run SQL on the server's database behind its back, with foreign keys not enforced."""
    if live.database_uri.startswith("sqlite"):
        with sqlite3.connect(live.database_uri.removeprefix("sqlite:///")) as conn:
            for sql in statements:
                conn.execute(sql)
        return
    import psycopg

    with psycopg.connect(live.database_uri) as conn:
        conn.execute("SET session_replication_role = replica")
        for sql in statements:
            conn.execute(sql)


def test_tokens_die_with_their_subject_even_if_an_id_comes_back(
    live: LiveServer, admin: Api
) -> None:
    """Defence in depth: a row that gets a deleted row's id by other means (a restore, a
    hand-made insert) is still not the subject of the deleted row's tokens."""
    _, _, old_node = _org_collab_node(admin, "by hand")
    node_tokens = _node_tokens(live, old_node["api_key"])
    old_user = make_user(admin, "by_hand_old")
    user_tokens = login(live, "by_hand_old", "Start-Pass-1!").json()
    org, collab, node = _org_collab_node(admin, "by hand tasks")
    node_api = Api(live.api_url, _node_tokens(live, node["api_key"])["access_token"])
    old_task = _task(admin, collab, org, "old")
    container = node_api.ok(
        "POST", "/token/container", json={"task_id": old_task["id"], "image": IMAGE}
    )["container_token"]

    admin.ok("DELETE", f"/node/{old_node['id']}")
    admin.ok("DELETE", f"/user/{old_user['id']}")
    admin.ok("DELETE", f"/task/{old_task['id']}")
    _, _, new_node = _org_collab_node(admin, "by hand new")
    new_user = make_user(admin, "by_hand_new")
    new_task = _task(admin, collab, org, "new")
    _execute(
        live,
        f"UPDATE node SET id = {old_node['id']} WHERE id = {new_node['id']}",
        f'UPDATE "user" SET id = {old_user["id"]} WHERE id = {new_user["id"]}',
        f"UPDATE task SET id = {old_task['id']} WHERE id = {new_task['id']}",
        f"UPDATE run SET task_id = {old_task['id']} WHERE task_id = {new_task['id']}",
    )
    assert admin.ok("GET", f"/user/{old_user['id']}")["username"] == "by_hand_new"

    assert Api(live.api_url, node_tokens["access_token"]).get("/run").status_code == 401
    assert refresh(live, node_tokens["refresh_token"]).status_code == 401
    assert Api(live.api_url, user_tokens["access_token"]).get("/user").status_code == 401
    assert refresh(live, user_tokens["refresh_token"]).status_code == 401
    assert Api(live.api_url, container).get(f"/task/{old_task['id']}").status_code == 401


def test_existing_sqlite_database_is_migrated_to_never_reuse_ids(tmp_path: Path) -> None:
    """A database made by the first schema revision gets AUTOINCREMENT on every id table."""
    from vantage6_common.service.database import make_engine

    db_file = tmp_path / "old.sqlite"
    uri = f"sqlite:///{db_file}"
    _upgrade_to(uri, "0001")
    with sqlite3.connect(db_file) as conn:
        conn.execute("INSERT INTO organization (id, name) VALUES (7, 'kept from before')")
    indexes_before = _indexes(db_file)

    live = LiveServer(database_uri=uri, workdir=tmp_path)
    live.start()
    try:
        admin = root(live)
        names = [o["name"] for o in admin.ok("GET", "/organization")["data"]]
        assert "kept from before" in names
        newest = admin.ok("POST", "/organization", json={"name": "newest"})["id"]
        admin.ok("DELETE", f"/organization/{newest}")
        after = admin.ok("POST", "/organization", json={"name": "after"})["id"]
        assert after > newest, "an organization id came back after a delete"
    finally:
        live.stop()
    make_engine(uri).dispose()

    with sqlite3.connect(db_file) as conn:
        tables = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'"))
        fk_problems = conn.execute("PRAGMA foreign_key_check").fetchall()
        with_int_id = [
            name
            for name in tables
            if any(
                col[1] == "id" and col[2].upper() == "INTEGER" and col[5] == 1
                for col in conn.execute(f"PRAGMA table_info('{name}')")
            )
        ]
    assert {"user", "node", "task", "run", "organization"} <= set(with_int_id)
    missing = [n for n in with_int_id if "AUTOINCREMENT" not in tables[n].upper()]
    assert not missing, f"tables that may still reuse ids: {missing}"
    assert not fk_problems
    assert indexes_before <= _indexes(db_file), "the rebuild lost indexes"


def _upgrade_to(uri: str, revision: str) -> None:
    from alembic import command

    from vantage6_common.service.database import make_engine
    from vantage6_common.service.migrate import alembic_config
    from vantage6_server.db.migrate import MIGRATIONS_DIR

    engine = make_engine(uri)
    config = alembic_config(MIGRATIONS_DIR, uri)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    engine.dispose()


def _indexes(db_file: Path) -> set[str]:
    with sqlite3.connect(db_file) as conn:
        rows = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'ix_%'"
        )
        return {name for (name,) in rows}
