"""Issue 8, item 16: the payload format is declared on the collaboration, never raced.

A collaboration's ``encryption_scheme`` decides the format of every value (task input, subtask
input, partial and final results): ``vantage6`` = the vantage6 4.x format, readable by the
published vantage6-client 4.14; ``authenticated`` = the authenticated format only, and readers
refuse the vantage6 format. Which nodes announced what, and when, plays no part.
"""

from __future__ import annotations

import json
import math
import subprocess
import time
from pathlib import Path
from typing import Any, get_args

import pandas as pd
import pytest
from alembic import command
from sqlalchemy import create_engine, text

from tests.api import Api
from tests.livestack import create_pg_database, drop_pg_database
from tests.node.conftest import _podman_ready, make_datasets
from tests.node.harness import PASSWORD, Federation, image_present
from tests.published import published_python
from vantage6_client import Client
from vantage6_client.exceptions import EncryptionError
from vantage6_common import crypto
from vantage6_common.scheme_policy import SETTINGS
from vantage6_common.service.migrate import alembic_config
from vantage6_server.api.routes.collaboration import EncryptionScheme
from vantage6_server.db.migrate import MIGRATIONS_DIR

PUBLISHED_IMAGE = "localhost/v6-published-tools:latest"
PUBLISHED_SCRIPT = Path(__file__).with_name("published_reads_subtasks.py")
GCM, V6 = crypto.SCHEME_GCM, crypto.SCHEME_V6


@pytest.fixture(scope="module")
def podman_ready() -> None:
    reason = _podman_ready()
    if reason:
        pytest.skip(reason)


def _collab(root: Api, **extra: Any) -> dict[str, Any]:
    org = root.ok("POST", "/organization", json={"name": f"org-{time.monotonic_ns()}"})
    body = {"name": f"collab-{time.monotonic_ns()}", "organization_ids": [org["id"]], **extra}
    return root.ok("POST", "/collaboration", json=body)


def _formats(api: Api, path: str, task_id: int, field: str) -> list[str | None]:
    items = api.ok("GET", path, params={"task_id": task_id, "per_page": 100})["data"]
    return [crypto.detect_scheme(item[field]) for item in items]


def _wait(condition, what: str, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _subtask(fed: Federation, task_id: int, runs: int) -> dict[str, Any]:
    """The one subtask of ``task_id`` once it has ``runs`` runs."""

    def found():
        children = fed.researcher.ok("GET", "/task", params={"parent_id": task_id})["data"]
        if len(children) == 1 and len(fed.runs(children[0]["id"])) == runs:
            return children[0]
        return None

    return _wait(found, f"the subtask of task {task_id}")


def _researcher_client(fed: Federation) -> Client:
    client = Client(fed.server.api_url)
    client.authenticate(fed.researcher_username, PASSWORD)
    client.setup_encryption(fed.stations[0].private_key)
    return client


# -- the setting on the server ------------------------------------------------------------------
def test_collaboration_setting_defaults_to_vantage6_and_is_validated(root_api):
    assert set(get_args(EncryptionScheme)) == set(SETTINGS)
    collab = _collab(root_api, encrypted=True)
    assert collab["encryption_scheme"] == "vantage6"  # readable by vantage6 4.x unless told
    strict = _collab(root_api, encrypted=True, encryption_scheme="authenticated")
    assert root_api.ok("GET", f"/collaboration/{strict['id']}")["encryption_scheme"] == (
        "authenticated"
    )
    for bad in ("rot13", "AUTHENTICATED", 5, None):
        org = root_api.ok("POST", "/organization", json={"name": f"o-{time.monotonic_ns()}"})
        resp = root_api.post(
            "/collaboration",
            json={"name": f"c-{time.monotonic_ns()}", "organization_ids": [org["id"]]}
            | {"encryption_scheme": bad},
        )
        assert resp.status_code == 400, (bad, resp.text)
        resp = root_api.patch(f"/collaboration/{collab['id']}", json={"encryption_scheme": bad})
        assert resp.status_code == 400 or bad is None, (bad, resp.text)
    patched = root_api.ok(
        "PATCH", f"/collaboration/{collab['id']}", json={"encryption_scheme": "authenticated"}
    )
    assert patched["encryption_scheme"] == "authenticated"
    listed = root_api.ok("GET", "/collaboration", params={"name": collab["name"]})["data"]
    assert listed[0]["encryption_scheme"] == "authenticated"


def test_server_refuses_vantage6_input_where_authenticated_is_required(root_api, tmp_path):
    cryptor = crypto.Cryptor(crypto.generate_private_key(2048))
    values = {
        scheme: cryptor.encrypt_bytes_to_str(b'{"method": "x"}', cryptor.public_key_str, scheme)
        for scheme in (V6, GCM)
    }
    for setting, accepted in (("vantage6", {V6, GCM}), ("authenticated", {GCM})):
        # root's own organization takes part: only members create tasks
        org_id = root_api.ok("POST", "/token/user/validate")["organization_id"]
        collab = root_api.ok(
            "POST",
            "/collaboration",
            json={
                "name": f"collab-{time.monotonic_ns()}",
                "organization_ids": [org_id],
                "encrypted": True,
                "encryption_scheme": setting,
            },
        )
        for scheme, value in values.items():
            resp = root_api.post(
                "/task",
                json={
                    "name": "t",
                    "image": "img",
                    "collaboration_id": collab["id"],
                    "organizations": [{"id": org_id, "input": value}],
                },
            )
            if scheme in accepted:
                assert resp.status_code == 201, resp.text
            else:
                assert resp.status_code == 400, resp.text
                assert "requires the authenticated format" in resp.json()["msg"]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migration_makes_existing_collaborations_vantage6(tmp_path, backend):
    """Collaborations from before the column keep the format they were written in."""
    pg_name = None
    if backend == "postgresql":
        uri, pg_name = create_pg_database()
    else:
        uri = f"sqlite:///{tmp_path / 'old.sqlite'}"
    engine = create_engine(uri)
    try:
        config = alembic_config(MIGRATIONS_DIR, uri)
        command.upgrade(config, "0001")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO collaboration (name, encrypted, session_restrict_to_same_image)"
                    " VALUES ('old', true, false)"
                )
            )
        command.upgrade(config, "head")
        with engine.connect() as conn:
            value = conn.execute(text("SELECT encryption_scheme FROM collaboration")).scalar_one()
        assert value == "vantage6"
    finally:
        engine.dispose()
        if pg_name:
            drop_pg_database(pg_name)


# -- (a) + (c): authenticated collaboration, a node that comes late ----------------------------
@pytest.mark.containers
@pytest.mark.timeout(600)
def test_authenticated_collaboration_writes_only_authenticated_even_for_a_late_node(
    podman_ready, live_server, root_api, tmp_path
):
    """Every value between our client and our nodes is authenticated, also the subtask input
    for an organization whose node had not connected (nor announced anything) when the
    subtask was made."""
    datasets = make_datasets(3, seed=21)
    fed = Federation(
        live_server, root_api, tmp_path, datasets, encrypted=True, encryption_scheme="authenticated"
    )
    client = None
    try:
        early, late = fed.stations[:2], fed.stations[2]
        # the late organization's key is known (its node ran before), its node is not running
        key = crypto.Cryptor(late.private_key).public_key_str
        root_api.ok("PATCH", f"/organization/{late.org_id}", json={"public_key": key})
        for station in early:
            station.start()
        fed.wait_online(early)
        client = _researcher_client(fed)
        task = client.task.create(
            collaboration=fed.collaboration_id,
            organizations=[early[0].org_id],
            name="late node",
            image="localhost/v6-demo:latest",
            input_={"method": "summary", "kwargs": {"columns": ["age"]}},
            databases="default",
        )
        child = _subtask(fed, task["id"], runs=3)
        assert root_api.ok("GET", f"/organization/{late.org_id}")["encryption_schemes"] == []
        assert _formats(fed.researcher, "/run", child["id"], "input") == [GCM] * 3
        late.start()
        results = client.wait_for_results(task["id"], timeout=240)
        assert client.task.status(task["id"]) == "completed", fed.logs()
        (result,) = [item["result"] for item in results.data]
        pooled = pd.concat(datasets, ignore_index=True)["age"]
        assert result["age"]["count"] == len(pooled)
        assert math.isclose(result["age"]["mean"], pooled.mean(), rel_tol=1e-12)
        # what the server holds: task input, subtask inputs, partial and final results
        assert _formats(fed.researcher, "/run", task["id"], "input") == [GCM]
        assert _formats(fed.researcher, "/result", task["id"], "result") == [GCM]
        assert _formats(fed.researcher, "/run", child["id"], "input") == [GCM] * 3
        assert _formats(fed.researcher, "/result", child["id"], "result") == [GCM] * 3
    finally:
        if client is not None:
            client.close()
        fed.stop()


# -- (a): readers refuse the vantage6 format -----------------------------------------------------
@pytest.mark.containers
@pytest.mark.timeout(600)
def test_readers_refuse_vantage6_format_once_authenticated_is_required(
    podman_ready, live_server, root_api, tmp_path
):
    """A collaboration switched to ``authenticated`` keeps vantage6-format values from its
    past; our client and our node refuse them (no downgrade), the server takes no new ones."""
    fed = Federation(
        live_server,
        root_api,
        tmp_path,
        make_datasets(1, seed=22),
        encrypted=True,
        encryption_scheme="vantage6",
    )
    client = None
    node = fed.stations[0]
    partial = {"method": "summary_partial", "kwargs": {"columns": ["age"]}}
    try:
        fed.start()
        done = fed.create_task(partial, [node.org_id])
        assert fed.wait_task(done["id"]) == "completed", fed.logs()
        assert _formats(fed.researcher, "/result", done["id"], "result") == [V6]
        node.stop()
        waiting = fed.create_task(partial, [node.org_id])  # vantage6 format, node offline
        root_api.ok(
            "PATCH",
            f"/collaboration/{fed.collaboration_id}",
            json={"encryption_scheme": "authenticated"},
        )
        # our client refuses the old result
        client = _researcher_client(fed)
        with pytest.raises(EncryptionError, match="requires the authenticated format"):
            client.result.from_task(done["id"])
        # the server takes no new vantage6-format input
        resp = fed.researcher.post(
            "/task",
            json={
                "name": "weak",
                "image": "localhost/v6-demo:latest",
                "collaboration_id": fed.collaboration_id,
                "organizations": [{"id": node.org_id, "input": fed.encode_input(node.org_id, {})}],
                "databases": [{"label": "default"}],
            },
        )
        assert resp.status_code == 400 and "authenticated" in resp.json()["msg"]
        # our node, started again, refuses the waiting vantage6-format input
        node.start()
        (run,) = fed.wait_runs_settled(waiting["id"])
        assert run["status"] == "failed", run
        assert "requires the authenticated format" in run["log"]
        # what our client writes now is authenticated, and it all goes through
        task = client.task.create(
            collaboration=fed.collaboration_id,
            organizations=[node.org_id],
            name="strict",
            image="localhost/v6-demo:latest",
            input_=partial,
            databases="default",
        )
        (item,) = client.wait_for_results(task["id"], timeout=180).data
        assert item["result"]["columns"]["age"]["count"] == len(node.data)
        assert _formats(fed.researcher, "/run", task["id"], "input") == [GCM]
        assert _formats(fed.researcher, "/result", task["id"], "result") == [GCM]
    finally:
        if client is not None:
            client.close()
        fed.stop()


# -- (b) + (c): vantage6 collaboration, the published 4.14 client reads everything -------------
@pytest.mark.containers
@pytest.mark.timeout(900)
def test_published_client_reads_subtask_input_and_partials_after_advertisements(
    podman_ready, live_server, root_api, tmp_path
):
    """In a collaboration left at the default (vantage6), every value is in the 4.x format
    even though every node announced the authenticated one before the task: the published
    vantage6-client 4.14 decrypts its own organization's subtask input and every partial result
    it lists, without "Header format is invalid"."""
    python = published_python()
    if not image_present(PUBLISHED_IMAGE):
        pytest.skip(f"{PUBLISHED_IMAGE} missing (python -m containers.images build)")
    datasets = make_datasets(2, seed=23)
    fed = Federation(live_server, root_api, tmp_path, datasets, encrypted=True)
    try:
        fed.start()
        first = fed.stations[0]

        def all_announced() -> bool:
            return all(
                GCM in root_api.ok("GET", f"/organization/{s.org_id}")["encryption_schemes"]
                for s in fed.stations
            )

        _wait(all_announced, "the nodes' node_info_update")
        done = subprocess.run(
            [
                str(python),
                str(PUBLISHED_SCRIPT),
                "http://127.0.0.1",
                str(live_server.port),
                fed.researcher_username,
                PASSWORD,
                str(first.private_key),
                str(fed.collaboration_id),
                str(first.org_id),
                PUBLISHED_IMAGE,
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, (output[-4000:], fed.logs())
        assert "Header format is invalid" not in output
        report = json.loads(done.stdout.strip().splitlines()[-1])
        pooled = pd.concat(datasets, ignore_index=True)["age"]
        (final,) = report["results"]
        assert final["count"] == len(pooled)
        # its own organization's subtask input, decrypted by the published client
        (own,) = [r["input"] for r in report["subtask_runs"] if r["organization"] == first.org_id]
        assert own["method"] == "partial_stats" and own["kwargs"] == {"column": "age"}, own
        # every partial result it lists, decrypted by the published client
        partials = report["partials"]
        assert sorted(p["count"] for p in partials) == sorted(len(d) for d in datasets)
        # what the server holds is all in the vantage6 format
        task_id, child_id = report["task_id"], report["subtask_id"]
        assert _formats(fed.researcher, "/run", task_id, "input") == [V6]
        assert _formats(fed.researcher, "/result", task_id, "result") == [V6]
        assert _formats(fed.researcher, "/run", child_id, "input") == [V6] * 2
        assert _formats(fed.researcher, "/result", child_id, "result") == [V6] * 2
    finally:
        fed.stop()
