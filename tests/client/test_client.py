"""The Python client against a live server: the administrative scenario of the vantage6 client
test (organizations, encrypted and unencrypted collaborations, nodes, users with roles, tasks,
listing/paging/filtering, kill and delete), plus errors, 2FA and event-driven waiting."""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from pathlib import Path

import pyotp
import pytest

from tests.client.fakenode import FakeNode
from tests.livestack import start_server
from vantage6_client import (
    AuthenticationError,
    Client,
    EncryptionError,
    NotAuthenticatedError,
    NotFoundError,
    Page,
    PermissionDeniedError,
    TwoFactorSetupRequired,
    V6ClientError,
    WaitTimeoutError,
)
from vantage6_client.client import _results_complete
from vantage6_common import crypto

PASSWORD = "Research-Pass-1!"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_key(path: Path) -> Path:
    crypto.save_private_key(crypto.generate_private_key(2048), path)
    return path


@pytest.fixture(scope="module")
def root(live_server) -> Client:
    client = Client("http://127.0.0.1", live_server.port, "/api")
    client.authenticate(live_server.root_username, live_server.root_password)
    client.setup_encryption(None)
    yield client
    client.close()


@pytest.fixture(scope="module")
def world(live_server, root, tmp_path_factory):
    """Two organizations (with keys), an encrypted and a plain collaboration, a node per
    organization in each, and a researcher of organization A."""
    keys = tmp_path_factory.mktemp("keys")
    key_a, key_b = make_key(keys / "a.pem"), make_key(keys / "b.pem")
    org_a = root.organization.create(
        name=unique("org-a"),
        address1="Street 1",
        zipcode="1234",
        country="NL",
        domain="a.example",
        public_key=crypto.Cryptor(key_a).public_key_str,
    )
    org_b = root.organization.create(
        name=unique("org-b"), country="BE", public_key=crypto.Cryptor(key_b).public_key_str
    )
    orgs = [org_a["id"], org_b["id"]]
    plain = root.collaboration.create(unique("plain"), orgs, encrypted=False)
    secret = root.collaboration.create(unique("secret"), orgs, encrypted=True)
    nodes = {}
    for collab in (plain, secret):
        for org, key in ((org_a, key_a), (org_b, key_b)):
            created = root.node.create(collaboration=collab["id"], organization=org["id"])
            assert created["api_key"]
            nodes[collab["id"], org["id"]] = FakeNode(
                live_server.api_url, created["api_key"], key if collab is secret else None
            )
    researcher_role = root.role.list(name="Researcher", include_root=True).data[0]
    username = unique("alice")
    user = root.user.create(
        username=username,
        firstname="Alice",
        lastname="Researcher",
        password=PASSWORD,
        email=f"{username}@a.example",
        organization=org_a["id"],
        roles=[researcher_role["id"]],
    )
    alice = Client(live_server.api_url)  # URL form: host, port and API path in one
    alice.authenticate(username, PASSWORD)
    yield {
        "org_a": org_a,
        "org_b": org_b,
        "plain": plain,
        "secret": secret,
        "nodes": nodes,
        "key_a": key_a,
        "user": user,
        "alice": alice,
        "researcher_role": researcher_role,
    }
    alice.close()
    for node in nodes.values():
        node.close()


def run_nodes(nodes, collab_id, org_ids, result_of, encrypt=False, delay=0.0):
    """In a thread: each node answers its open run with result_of(input)."""

    def work():
        time.sleep(delay)
        for org_id in org_ids:
            node = nodes[collab_id, org_id]
            for run in node.open_runs():
                node.start(run)
                node.finish(run, result_of(node.read_input(run)), encrypt=encrypt)

    thread = threading.Thread(target=work)
    thread.start()
    return thread


# --------------------------------------------------------------------------------------------
def test_login_errors_are_typed(live_server):
    client = Client(live_server.url, api_path="/api")
    with pytest.raises(AuthenticationError) as info:
        client.authenticate(live_server.root_username, "wrong-Password-1!")
    assert info.value.status == 401
    assert info.value.msg  # the server's own message
    with pytest.raises(NotAuthenticatedError):
        client.organization.list()


def test_whoami_and_server_info(root, live_server):
    assert root.whoami.username == live_server.root_username
    assert root.whoami.organization_id is not None
    assert root.util.get_server_version()["version"]
    assert root.util.get_server_health()
    me = root.user.get()
    assert me["id"] == root.whoami.id


def test_setup_of_the_world(world, root):
    org_a, org_b = world["org_a"], world["org_b"]
    assert root.organization.get(org_a["id"])["country"] == "NL"
    assert root.collaboration.get(world["secret"]["id"])["encrypted"] is True
    assert root.collaboration.get(world["plain"]["id"])["encrypted"] is False
    nodes = root.node.list(collaboration=world["plain"]["id"])
    assert {n["organization"]["id"] for n in nodes.data} == {org_a["id"], org_b["id"]}
    alice = world["alice"]
    assert alice.whoami.organization_id == org_a["id"]
    assert alice.whoami.name == "Alice Researcher"
    users = root.user.list(organization=org_a["id"], role=world["researcher_role"]["id"])
    assert [u["username"] for u in users.data] == [world["user"]["username"]]


def test_unencrypted_task_round_trip(world):
    alice, plain = world["alice"], world["plain"]
    orgs = [world["org_a"]["id"], world["org_b"]["id"]]
    alice.setup_encryption(None)
    task = alice.task.create(
        collaboration=plain["id"],
        organizations=orgs,
        name="plain task",
        image="localhost/v6demo",
        description="unencrypted",
        input_={"method": "summary", "kwargs": {"column": "age"}},
        databases=[{"label": "default"}],
    )
    assert task["id"]
    runs = alice.run.from_task(task["id"])
    assert len(runs.data) == 2
    assert all(r["input"] == {"method": "summary", "kwargs": {"column": "age"}} for r in runs.data)

    thread = run_nodes(
        world["nodes"], plain["id"], orgs, lambda inp: {"seen": inp["method"], "n": 3}, delay=0.2
    )
    results = alice.wait_for_results(task["id"], timeout=60)
    thread.join()
    assert isinstance(results, Page)
    assert [r["result"] for r in results.data] == [{"seen": "summary", "n": 3}] * 2
    assert alice.task.status(task["id"]) == "completed"
    assert alice.result.get(results.data[0]["id"]) == {"seen": "summary", "n": 3}


def test_input_file_needs_a_blob_store(world, tmp_path):
    """This server has no blob store: an input from a file is refused before any task."""
    alice, plain = world["alice"], world["plain"]
    alice.setup_encryption(None)
    source = tmp_path / "input.json"
    source.write_text('{"method": "summary"}')
    before = len(alice.task.list(collaboration=plain["id"]).data)
    with pytest.raises(V6ClientError, match="needs the server's blob store"):
        alice.task.create(
            collaboration=plain["id"],
            organizations=[world["org_a"]["id"]],
            name="from a file",
            image="localhost/v6demo",
            input_file=source,
        )
    assert len(alice.task.list(collaboration=plain["id"]).data) == before


def test_encrypted_task_round_trip(world):
    alice, secret = world["alice"], world["secret"]
    orgs = [world["org_a"]["id"], world["org_b"]["id"]]
    alice.setup_encryption(None)
    with pytest.raises(EncryptionError, match="setup_encryption"):
        alice.task.create(
            collaboration=secret["id"], organizations=orgs, name="x", image="img", input_={}
        )
    alice.setup_encryption(world["key_a"])
    task = alice.task.create(
        collaboration=secret["id"],
        organizations=orgs,
        name="secret task",
        image="localhost/v6demo",
        input_={"method": "summary", "args": [1, 2]},
        databases="default",
    )
    # what the server stores is ciphertext, not the input
    node_b = world["nodes"][secret["id"], world["org_b"]["id"]]
    raw = node_b.open_runs()[0]["input"]
    assert crypto.detect_scheme(raw) is not None
    thread = run_nodes(
        world["nodes"],
        secret["id"],
        orgs,
        lambda inp: {"sum": sum(inp["args"])},
        encrypt=True,
        delay=0.2,
    )
    results = alice.wait_for_results(task["id"], timeout=60)
    thread.join()
    assert [r["result"] for r in results.data] == [{"sum": 3}, {"sum": 3}]


def test_list_get_filter_and_page(world, root):
    names = [unique("paged") for _ in range(7)]
    for name in names:
        root.organization.create(name=name, country="XX")
    everything = root.organization.list()
    assert isinstance(everything, Page)
    assert len(everything.data) == everything.total >= 9
    assert {o["name"] for o in everything.data} >= set(names)

    first = root.organization.list(page=1, per_page=3)
    assert len(first.data) == 3 and first.total == everything.total
    assert first.links.get("next")
    second = root.organization.list(page=2, per_page=3)
    assert not {o["id"] for o in first.data} & {o["id"] for o in second.data}

    country = root.organization.list(country="XX", per_page=2)  # walks pages of 2
    assert sorted(o["name"] for o in country.data) == sorted(names)

    # vantage6's post-filters
    only_names = root.organization.list(country="XX", field="name")
    assert all(set(o) == {"name"} for o in only_names.data)
    one = root.organization.list(filter_=("name", names[3]), fields=["id", "name"])
    assert [o["name"] for o in one.data] == [names[3]]
    assert set(root.organization.get(world["org_a"]["id"], fields=["id", "country"])) == {
        "id",
        "country",
    }

    collabs = root.collaboration.list(scope="global", encrypted=True)
    assert world["secret"]["id"] in {c["id"] for c in collabs.data}
    assert world["plain"]["id"] not in {c["id"] for c in collabs.data}
    mine = world["alice"].collaboration.list()
    assert {c["id"] for c in mine.data} == {world["plain"]["id"], world["secret"]["id"]}

    tasks = world["alice"].task.list(collaboration=world["plain"]["id"])
    assert tasks.data and all(t["collaboration"]["id"] == world["plain"]["id"] for t in tasks.data)
    rules = root.rule.list()
    assert len(rules.data) == rules.total > 20
    rule = root.rule.find("organization", "view", "org")
    assert root.rule.get(rule["id"])["name"] == "organization"


def test_roles(world, root):
    org_a = world["org_a"]["id"]
    view_org = root.rule.find("organization", "view", "organization")
    view_users = root.rule.find("user", "view", "organization")
    role = root.role.create(
        name=unique("auditor"), description="looks", rules=[view_org["id"]], organization=org_a
    )
    root.role.add_rule(role["id"], view_users["id"])
    assert {r["id"] for r in root.rule.list(role=role["id"]).data} == {
        view_org["id"],
        view_users["id"],
    }
    username = unique("bob")
    bob = root.user.create(
        username=username,
        firstname="Bob",
        lastname="Auditor",
        password=PASSWORD,
        email=f"{username}@a.example",
        organization=org_a,
        roles=[role["id"]],
    )
    assert root.user.list(role=role["id"]).data[0]["id"] == bob["id"]
    root.role.update(role["id"], description="still looks")
    assert root.role.get(role["id"])["description"] == "still looks"


def test_permission_errors_carry_the_server_message(world):
    alice = world["alice"]
    with pytest.raises((PermissionDeniedError, AuthenticationError)) as info:
        alice.organization.create(name=unique("not-allowed"))
    assert info.value.status in (401, 403)
    assert info.value.msg and "organization" in str(info.value).lower()
    with pytest.raises(NotFoundError):
        alice.task.get(10**8)


def test_kill_and_delete_a_task(world):
    alice, plain = world["alice"], world["plain"]
    orgs = [world["org_a"]["id"], world["org_b"]["id"]]
    alice.setup_encryption(None)
    task = alice.task.create(
        collaboration=plain["id"], organizations=orgs, name="to kill", image="img", input_={}
    )
    alice.task.kill(task["id"])
    statuses = {r["status"] for r in alice.run.from_task(task["id"]).data}
    assert statuses == {"killed by user"}
    assert alice.wait_for_task(task["id"], timeout=10) == "killed by user"
    alice.task.delete(task["id"])
    with pytest.raises(NotFoundError):
        alice.task.get(task["id"])


def test_wait_timeout_and_polling_fallback(world, live_server):
    alice, plain = world["alice"], world["plain"]
    org_a = world["org_a"]["id"]
    task = alice.task.create(
        collaboration=plain["id"], organizations=[org_a], name="slow", image="img", input_={}
    )
    with pytest.raises(WaitTimeoutError) as info:
        alice.wait_for_task(task["id"], timeout=0.5)
    assert info.value.status == "pending"

    polling = Client(live_server.api_url, use_events=False)
    polling.authenticate(world["user"]["username"], PASSWORD)
    thread = run_nodes(world["nodes"], plain["id"], [org_a], lambda inp: 42, delay=0.3)
    assert polling.wait_for_results(task["id"], timeout=30).data[0]["result"] == 42
    thread.join()
    polling.close()


def test_wait_is_woken_by_events_not_polling(world):
    """With the safety-net poll set to 60 s, a task that finishes after 3 s is noticed at
    once: the wait is woken by Socket.IO events, and it costs a handful of requests."""
    alice, plain = world["alice"], world["plain"]
    org_a = world["org_a"]["id"]
    task = alice.task.create(
        collaboration=plain["id"], organizations=[org_a], name="evt", image="img", input_={}
    )
    calls: list[str] = []
    original = alice.transport.request

    def counting(method, endpoint, **kw):
        calls.append(endpoint)
        return original(method, endpoint, **kw)

    alice.transport.request = counting
    events_before = alice.events.sequence
    try:
        thread = run_nodes(world["nodes"], plain["id"], [org_a], lambda inp: "ok", delay=3.0)
        started = time.monotonic()
        results = alice.wait_for_results(task["id"], interval=60, timeout=120)
        waited = time.monotonic() - started
        thread.join()
    finally:
        alice.transport.request = original
    assert results.data[0]["result"] == "ok"
    assert 2.9 <= waited < 30  # far below the 60 s poll: an event woke it
    assert alice.events.connected and alice.events.sequence > events_before
    status_checks = [c for c in calls if c.endswith("/status")]
    # one at the start, a few after the run's events (active, completed)
    assert len(status_checks) <= 12, calls


def test_wait_asks_for_the_status_only_when_the_events_allow_an_end(world):
    """Status events that leave a run going need no status request (the task cannot have
    ended): two runs going active, then finishing one by one, cost one status check at the
    start and one with the results at the end; the answer comes right after the last run."""
    alice, plain = world["alice"], world["plain"]
    orgs = [world["org_a"]["id"], world["org_b"]["id"]]
    nodes = world["nodes"]
    task = alice.task.create(
        collaboration=plain["id"], organizations=orgs, name="quiet", image="img", input_={}
    )
    calls: list[str] = []
    original = alice.transport.request

    def counting(method, endpoint, **kw):
        calls.append(endpoint)
        return original(method, endpoint, **kw)

    finished_at: list[float] = []

    def work() -> None:
        time.sleep(0.3)
        runs = []
        for org_id in orgs:
            node = nodes[plain["id"], org_id]
            for run in node.open_runs():
                if run["task"]["id"] == task["id"]:
                    node.start(run)
                    runs.append((node, run))
        for node, run in runs:
            time.sleep(0.5)
            node.finish(run, "done")
        finished_at.append(time.monotonic())

    alice.transport.request = counting
    try:
        thread = threading.Thread(target=work)
        thread.start()
        results = alice.wait_for_results(task["id"], interval=60, timeout=60)
        returned = time.monotonic()
        thread.join()
    finally:
        alice.transport.request = original
    assert [r["result"] for r in results.data] == ["done", "done"]
    assert returned - finished_at[0] < 1.0
    # one status check at the start; at the end the results, all there, settle the status
    status_checks = [c for c in calls if c.endswith("/status")]
    assert len(status_checks) == 1, calls
    assert alice.task.status(task["id"]) == "completed"


def test_results_are_complete_only_with_an_entry_and_a_result_for_each_completed_run():
    runs = {1: "completed", 2: "crashed"}
    full = {"data": [{"id": 1, "result": {"x": 1}}, {"id": 2, "result": None}]}
    assert _results_complete(full, runs)
    assert not _results_complete({"data": [{"id": 1, "result": {"x": 1}}]}, runs)
    # the run says completed, its result is not stored yet: ask the server after all
    assert not _results_complete({"data": [{"id": 1, "result": None}, {"id": 2}]}, runs)
    assert not _results_complete(None, runs)


def test_wait_for_results_latency(world, record_property, capsys):
    """How long after the last run is reported finished does wait_for_results return?

    Measured from the moment the node's PATCH of the last run returns. Reported, not asserted.
    """
    alice, plain = world["alice"], world["plain"]
    orgs = [world["org_a"]["id"], world["org_b"]["id"]]
    nodes = world["nodes"]
    latencies = []
    for i in range(10):
        task = alice.task.create(
            collaboration=plain["id"], organizations=orgs, name=f"lat{i}", image="img", input_={}
        )
        finished_at: list[float] = []

        def work(task_id=task["id"], finished_at=finished_at):
            time.sleep(0.3)
            for org_id in orgs:
                node = nodes[plain["id"], org_id]
                for run in node.open_runs():
                    if run["task"]["id"] == task_id:
                        node.finish(run, {"i": org_id})
            finished_at.append(time.monotonic())

        thread = threading.Thread(target=work)
        thread.start()
        results = alice.wait_for_results(task["id"], timeout=30)
        returned = time.monotonic()
        thread.join()
        assert len(results.data) == 2
        latencies.append((returned - finished_at[0]) * 1000)
    report = (
        f"wait_for_results latency after the last run finished (10 tasks, 2 runs each): "
        f"median {statistics.median(latencies):.1f} ms, max {max(latencies):.1f} ms, "
        f"all {[round(x, 1) for x in latencies]}"
    )
    record_property("wait_for_results_latency_ms", latencies)
    with capsys.disabled():
        print("\n" + report)


def test_two_factor_authentication():
    server, cleanup = start_server("sqlite", extra_env={"V6_TWO_FACTOR_AUTH": "true"})
    try:
        client = Client(server.api_url)
        with pytest.raises(TwoFactorSetupRequired) as info:
            client.authenticate(server.root_username, server.root_password)
        assert info.value.qr_uri.startswith("otpauth://")
        code = pyotp.TOTP(info.value.otp_secret).now()
        who = client.authenticate(server.root_username, server.root_password, mfa_code=code)
        assert who.username == server.root_username
        with pytest.raises(AuthenticationError):
            Client(server.api_url).authenticate(
                server.root_username, server.root_password, mfa_code="000000"
            )
        client.close()
    finally:
        cleanup()


def test_published_client_scenario_with_our_client(live_server, tmp_path):
    """The steps of the published vantage6-client scenario (tests/server/published), done with
    this client, which pages and decodes for the caller."""
    suffix = uuid.uuid4().hex[:6]
    client = Client("http://127.0.0.1", live_server.port, "/api")
    client.authenticate("root", live_server.root_password)
    assert client.whoami.organization_name == "root"
    assert client.util.get_server_version()["version"].startswith("4.")

    orgs = [
        client.organization.create(
            name=f"org{i}-{suffix}",
            address1="Street 1",
            zipcode="1234AB",
            country="NL",
            domain=f"org{i}.example",
        )
        for i in range(3)
    ]
    org_ids = [o["id"] for o in orgs]
    # root's organization takes part: only members create tasks (as in vantage6 4.14)
    root_org = client.whoami.organization_id
    plain = client.collaboration.create(f"plain-{suffix}", [*org_ids, root_org], encrypted=False)
    secret = client.collaboration.create(
        f"secret-{suffix}", [*org_ids[:2], root_org], encrypted=True
    )
    assert plain["encrypted"] is False and secret["encrypted"] is True
    nodes = [client.node.create(collaboration=plain["id"], organization=o) for o in org_ids]
    assert all(n["api_key"] for n in nodes)
    assert client.node.create(collaboration=secret["id"], organization=org_ids[0])["api_key"]

    researcher = client.role.list(name="Researcher", include_root=True).data[0]
    user = client.user.create(
        username=f"res-{suffix}",
        firstname="Re",
        lastname="Searcher",
        password=PASSWORD,
        email=f"res-{suffix}@example.org",
        organization=org_ids[0],
        roles=[researcher["id"]],
    )
    role = client.role.create(
        name=f"custom-{suffix}", description="custom", rules=[1, 2], organization=org_ids[0]
    )

    page1 = client.organization.list(page=1, per_page=2)
    page2 = client.organization.list(page=2, per_page=2)
    assert len(page1.data) == 2 and page1.links
    assert {o["id"] for o in page1.data}.isdisjoint({o["id"] for o in page2.data})
    assert client.organization.get(org_ids[1])["name"] == f"org1-{suffix}"
    assert [o["id"] for o in client.organization.list(name=f"org2-{suffix}").data] == [org_ids[2]]
    found = client.collaboration.list(scope="global", encrypted=True, name=f"secret-{suffix}")
    assert [c["id"] for c in found.data] == [secret["id"]]
    node_list = client.node.list(collaboration=plain["id"]).data
    assert sorted(n["id"] for n in node_list) == sorted(n["id"] for n in nodes)
    assert client.node.get(nodes[0]["id"])["name"] == nodes[0]["name"]
    assert [u["id"] for u in client.user.list(username=f"res-{suffix}").data] == [user["id"]]
    assert client.role.get(role["id"])["name"] == f"custom-{suffix}"
    rules = client.rule.list(operation="v", scope="glo").data
    assert rules and all(r["operation"] == "VIEW" and r["scope"] == "GLOBAL" for r in rules)

    client.setup_encryption(None)
    task = client.task.create(
        collaboration=plain["id"],
        organizations=org_ids,
        name="compat",
        image="v6-demo",
        description="our client task",
        input_={"method": "summary", "kwargs": {}},
        databases=[{"label": "default"}],
    )
    assert task["status"] == "pending"
    runs = client.run.from_task(task["id"]).data
    assert sorted(r["organization"]["id"] for r in runs) == sorted(org_ids)
    assert all(r["input"] == {"method": "summary", "kwargs": {}} for r in runs)
    assert [t["id"] for t in client.task.list(collaboration=plain["id"], name="compat").data] == [
        task["id"]
    ]
    node = FakeNode(live_server.api_url, nodes[1]["api_key"])
    assert [r["task"]["id"] for r in node.open_runs()] == [task["id"]]
    node.close()

    key = make_key(tmp_path / "root-org.pem")
    client.setup_encryption(key)
    client.organization.update(org_ids[0], public_key=crypto.Cryptor(key).public_key_str)
    enc_task = client.task.create(
        collaboration=secret["id"],
        organizations=[org_ids[0]],
        name="secret-task",
        image="v6-demo",
        input_={"method": "summary"},
        databases=[{"label": "default"}],
    )
    stored = client.request("run", params={"task_id": enc_task["id"]})["data"][0]["input"]
    assert crypto.detect_scheme(stored) is not None and "summary" not in stored

    client.task.kill(task["id"])
    assert client.task.get(task["id"])["status"] == "killed by user"
    client.task.delete(task["id"])
    with pytest.raises(NotFoundError) as info:
        client.task.get(task["id"])
    assert "not found" in info.value.msg.lower()
    client.close()


def test_studies(world, root):
    org_a, org_b = world["org_a"]["id"], world["org_b"]["id"]
    plain = world["plain"]["id"]
    study = root.study.create(unique("study"), organizations=[org_a], collaboration=plain)
    assert root.study.get(study["id"])["name"] == study["name"]
    assert study["id"] in {s["id"] for s in root.study.list(collaboration=plain).data}
    assert [o["id"] for o in root.organization.list(study=study["id"]).data] == [org_a]
    root.study.add_organization(org_b, study["id"])
    assert {o["id"] for o in root.organization.list(study=study["id"]).data} == {org_a, org_b}
    root.study.remove_organization(org_b, study["id"])
    root.study.update(study["id"], name=study["name"] + "-renamed")
    assert root.study.get(study["id"])["name"].endswith("-renamed")
    # a task for a study: the collaboration is taken from the study
    alice = world["alice"]
    alice.setup_encryption(None)
    task = alice.task.create(
        study=study["id"], organizations=[org_a], name="study task", image="img", input_={}
    )
    assert task["study"]["id"] == study["id"]
    alice.task.delete(task["id"])
    root.study.delete(study["id"])
    with pytest.raises(NotFoundError):
        root.study.get(study["id"])
