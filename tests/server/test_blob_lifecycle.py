"""Blobs as task inputs and run results: ownership, attacks, bad uploads, deletion, quota.

Every test runs against a live server whose store is the filesystem backend and one on a moto
S3 server on loopback; the rows are read from the server's SQLite file and the objects from the
store itself (the same folder or bucket).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api import Api
from tests.published import run_published_scenario
from tests.server.blobfed import (
    MIB,
    PASSWORD,
    BlobServer,
    Fed,
    add_user,
    build_fed,
    create_task,
    download,
    pattern,
    runs_of,
    start_blob_server,
    store_section,
    upload,
    uploaded,
    wait_for,
)
from tests.storage.endpoints import Endpoint, start_moto

QUOTA_MIB = 8


@pytest.fixture(scope="module", params=["filesystem", "s3"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    endpoint = start_moto(tmp_path_factory.mktemp("moto"))
    yield endpoint
    endpoint.stop()


@pytest.fixture(scope="module")
def blob_server(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BlobServer]:
    workdir = tmp_path_factory.mktemp(f"blobs-{backend}")
    moto_url = request.getfixturevalue("moto").url if backend == "s3" else None
    started = start_blob_server(
        store_section(backend, workdir, moto_url), workdir, quota_mib_per_collaboration=QUOTA_MIB
    )
    yield started
    started.stop()


@pytest.fixture(scope="module")
def fed(blob_server: BlobServer) -> Fed:
    server = blob_server.server
    root = Api.as_user(server.api_url, server.root_username, server.root_password)
    return build_fed(server, root)


NOT_YOURS = "is not a blob you uploaded and may use"


def refused(answer, status: int = 400) -> str:
    assert answer.status_code == status, f"{answer.status_code} {answer.text}"
    return answer.json()["msg"]


def test_a_task_takes_only_the_creators_own_unattached_blobs(
    blob_server: BlobServer, fed: Fed
) -> None:
    x, a, b = fed.ids["X"], fed.ids["A"], fed.ids["B"]
    mine_a, mine_b = uploaded(fed["alice"], b"for A"), uploaded(fed["alice"], b"for B")
    bobs = uploaded(fed["bob"], b"bob's")

    # someone else's blob and one that does not exist: the same answer
    someone_elses = refused(create_task(fed["bob"], x, {a: mine_a}))
    nobodys = refused(create_task(fed["bob"], x, {a: str(uuid.uuid4())}))
    assert NOT_YOURS in someone_elses
    assert someone_elses == nobodys
    assert refused(create_task(fed["alice"], x, {a: bobs})) == nobodys
    # a node's upload (even in the collaboration) is no user's input
    nodes = uploaded(fed["nA"], b"node's")
    assert refused(create_task(fed["alice"], x, {a: nodes})) == nobodys
    # not a uuid, or one blob for two organizations
    assert "must be the uuid of a blob" in refused(create_task(fed["alice"], x, {a: "aGVsbG8="}))
    assert "of its own" in refused(create_task(fed["alice"], x, {a: mine_a, b: mine_a}))
    assert blob_server.rows("task_id IS NOT NULL AND uuid IN (?, ?)", mine_a, mine_b) == []

    created = create_task(fed["alice"], x, {a: f'"{mine_a}"', b: mine_b})  # quotes tolerated
    assert created.status_code == 201, created.text
    task = created.json()
    runs = runs_of(fed["alice"], task["id"])
    assert {r["input"] for r in runs.values()} == {mine_a, mine_b}
    assert all(r["blob_storage_used"] is True for r in runs.values())
    results = fed["alice"].ok("GET", "/result", params={"task_id": task["id"]})["data"]
    assert all(r["blob_storage_used"] is True for r in results)
    rows = {row[0]: row for row in blob_server.rows("task_id = ?", task["id"])}
    assert rows[mine_a][1:] == ("user", fed.ids["alice"], 5, task["id"], runs[a]["id"], "input")
    assert rows[mine_b][5:] == (runs[b]["id"], "input")

    # attached once: never again, by anyone
    assert refused(create_task(fed["alice"], x, {a: mine_a})) == nobodys


def test_who_reads_an_input_blob(blob_server: BlobServer, fed: Fed) -> None:
    x, a = fed.ids["X"], fed.ids["A"]
    blob = uploaded(fed["alice"], pattern(2 * MIB, "input"))
    expected = b"".join(pattern(2 * MIB, "input"))
    assert download(fed["alice"], blob).status_code == 404  # not attached: nobody's yet
    task = create_task(fed["alice"], x, {a: blob}).json()
    assert download(fed["alice"], blob).content == expected
    assert download(fed["nA"], blob).content == expected  # the run's own node
    assert download(fed["bob"], blob).status_code == 200  # a researcher of the collaboration
    refused(download(fed["nB"], blob), 403)  # another organization's node
    refused(download(fed["nC"], blob), 403)  # another collaboration's node
    refused(download(fed["carol"], blob), 403)  # a user outside the collaboration
    assert runs_of(fed["carol"], task["id"]) == {}


def test_a_node_attaches_only_its_own_upload_as_its_runs_result(
    blob_server: BlobServer, fed: Fed
) -> None:
    x, a, b = fed.ids["X"], fed.ids["A"], fed.ids["B"]
    task = create_task(
        fed["alice"], x, {a: uploaded(fed["alice"], b"in A"), b: uploaded(fed["alice"], b"in B")}
    ).json()
    runs = runs_of(fed["nA"], task["id"])
    run_a = f"/run/{runs[a]['id']}"
    from_b = uploaded(fed["nB"], b"B's result")
    from_alice = uploaded(fed["alice"], b"alice's bytes")
    from_c = uploaded(fed["nC"], b"C's bytes")
    nobodys = refused(fed["nA"].patch(run_a, json={"result": str(uuid.uuid4())}))
    assert NOT_YOURS in nobodys
    for foreign in (from_b, from_alice, from_c, runs[a]["input"]):
        assert refused(fed["nA"].patch(run_a, json={"result": foreign})) == nobodys
    refused(fed["nB"].patch(run_a, json={"result": from_b}), 403)  # not B's run

    result = b"".join(pattern(3 * MIB, "result"))
    mine = uploaded(fed["nA"], pattern(3 * MIB, "result"))
    done = fed["nA"].patch(run_a, json={"result": mine, "status": "completed"})
    assert done.status_code == 200, done.text
    assert done.json()["blob_storage_used"] is True
    listed = fed["alice"].ok("GET", "/result", params={"task_id": task["id"]})["data"]
    assert {r["result"] for r in listed} == {mine, None}  # the uuid only, not the bytes
    assert download(fed["alice"], mine).content == result
    assert download(fed["nB"], mine).content == result  # results: the collaboration's nodes
    refused(download(fed["carol"], mine), 403)
    refused(download(fed["nC"], mine), 403)
    assert blob_server.rows("uuid = ?", mine)[0][1:] == (
        "node",
        fed.ids["nA"],
        3 * MIB,
        task["id"],
        runs[a]["id"],
        "result",
    )


def test_deleting_a_task_deletes_its_blobs(blob_server: BlobServer, fed: Fed) -> None:
    x, a, b = fed.ids["X"], fed.ids["A"], fed.ids["B"]
    inputs = {a: uploaded(fed["alice"], b"1"), b: uploaded(fed["alice"], b"2")}
    task = create_task(fed["alice"], x, inputs).json()
    run_a = runs_of(fed["nA"], task["id"])[a]["id"]
    result = uploaded(fed["nA"], b"result")
    fed["nA"].ok("PATCH", f"/run/{run_a}", json={"result": result, "status": "completed"})
    kept = uploaded(fed["alice"], b"not part of the task")
    ours = {*inputs.values(), result}
    assert ours <= blob_server.objects()

    fed["alice"].ok("DELETE", f"/task/{task['id']}")
    assert not ours & blob_server.objects()
    assert blob_server.rows("task_id = ?", task["id"]) == []
    assert kept in blob_server.objects()
    refused(download(fed["alice"], result), 404)


def _raw_upload(blob_server: BlobServer, token: str, head: bytes, body: bytes) -> None:
    """Send an upload's headers and part of its body, wait until it streams, hang up."""
    with socket.create_connection(("127.0.0.1", blob_server.server.port)) as sock:
        sock.sendall(
            b"POST /api/blobstream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + f"Authorization: Bearer {token}\r\n".encode()
            + b"Content-Type: application/octet-stream\r\n"
            + head
            + b"\r\n"
            + body
        )
        wait_for(lambda: blob_server.rows("size IS NULL") != [], what="the upload to begin")


def test_cut_off_uploads_leave_no_row_and_no_object(blob_server: BlobServer, fed: Fed) -> None:
    """A body shorter than its Content-Length, and a chunked body cut mid-chunk."""
    before_rows, before_objects = blob_server.rows(), blob_server.objects()
    token = fed["alice"].token
    _raw_upload(blob_server, token, b"Content-Length: 10485760\r\n", b"x" * (6 * MIB))
    wait_for(lambda: blob_server.rows() == before_rows, what="the cut-off upload's row to go")
    chunk = b"y" * MIB
    _raw_upload(
        blob_server,
        token,
        b"Transfer-Encoding: chunked\r\n",
        (f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n") * 6 + b"100000\r\nhalf",
    )
    wait_for(lambda: blob_server.rows() == before_rows, what="the cut-off upload's row to go")
    assert blob_server.objects() == before_objects
    if blob_server.section["type"] == "s3":
        uploads = blob_server.store._client.list_multipart_uploads(
            Bucket=blob_server.section["bucket"]
        )
        assert uploads.get("Uploads", []) == []
    assert upload(fed["alice"], b"the server carries on").status_code == 201


def test_quota_per_collaboration(blob_server: BlobServer, fed: Fed) -> None:
    """Q's node streams up to the quota; a user's blob is counted when it is attached."""
    q, a = fed.ids["Q"], fed.ids["A"]
    before_objects = blob_server.objects()
    first = uploaded(fed["nQ"], pattern(5 * MIB))
    over = upload(fed["nQ"], pattern(5 * MIB))
    assert "quota of 8 MiB" in refused(over, 413)
    assert blob_server.objects() - before_objects == {first}
    assert blob_server.rows("uploader_kind = 'node' AND uploader_id = ?", fed.ids["nQ"])[0][0] == (
        first
    )
    assert upload(fed["alice"], pattern((QUOTA_MIB + 1) * MIB)).status_code == 413
    big_input = uploaded(fed["alice"], pattern(4 * MIB))
    assert "quota" in refused(create_task(fed["alice"], q, {a: big_input}), 413)
    # a user's uploads that no task took yet are bounded by one quota together
    assert "uploads that no task uses yet" in refused(upload(fed["alice"], pattern(5 * MIB)), 413)
    small = uploaded(fed["alice"], pattern(MIB))
    assert create_task(fed["alice"], q, {a: small}).status_code == 201


def test_deleted_accounts_tokens_do_not_work(blob_server: BlobServer, fed: Fed) -> None:
    server = blob_server.server
    researcher = {r["name"]: r["id"] for r in fed.root.ok("GET", "/role")["data"]}["Researcher"]
    dave_id = add_user(server, fed.root, "dave", fed.ids["A"], researcher)
    dave = Api.as_user(server.api_url, "dave", PASSWORD)
    blob = uploaded(dave, b"dave's")
    org_d = fed.root.ok("POST", "/organization", json={"name": "blob-org-D"})["id"]
    z = fed.root.ok(
        "POST",
        "/collaboration",
        json={"name": "blob-Z", "encrypted": False, "organization_ids": [fed.ids["A"], org_d]},
    )["id"]
    node = fed.root.ok("POST", "/node", json={"collaboration_id": z, "organization_id": org_d})
    gone_node = Api.as_node(server.api_url, node["api_key"])
    task = create_task(fed["alice"], z, {org_d: uploaded(fed["alice"], b"for D")}).json()
    run_d = runs_of(fed["alice"], task["id"])[org_d]
    assert download(gone_node, run_d["input"]).content == b"for D"  # its own run's input
    result = uploaded(gone_node, b"D's result")

    fed.root.ok("DELETE", f"/user/{dave_id}")
    fed.root.ok("DELETE", f"/node/{node['id']}")
    for api in (dave, gone_node):
        refused(upload(api, b"after"), 401)
        refused(download(api, run_d["input"]), 401)
    refused(create_task(dave, fed.ids["X"], {fed.ids["A"]: blob}), 401)
    refused(gone_node.patch(f"/run/{run_d['id']}", json={"result": result}), 401)


def test_a_store_that_stops_mid_upload_is_a_503_and_leaves_nothing(tmp_path: Path) -> None:
    """The S3 endpoint is killed while an upload streams: 503, no row (a filesystem cannot be
    stopped half way; test_blobstream takes one away between requests)."""
    endpoint = start_moto(tmp_path)
    started = start_blob_server(store_section("s3", tmp_path, endpoint.url), tmp_path)
    try:
        server = started.server
        root = Api.as_user(server.api_url, server.root_username, server.root_password)
        kept = uploaded(root, b"stored before")

        def killed_half_way() -> Iterator[bytes]:
            yield from pattern(6 * MIB)  # one part is sent: the multipart upload has begun
            wait_for(lambda: started.rows("size IS NULL") != [], what="the upload's row")
            endpoint.stop()
            yield from pattern(6 * MIB)

        answer = upload(root, killed_half_way())
        assert "cannot be reached" in refused(answer, 503)
        assert [row[0] for row in started.rows()] == [kept]
        assert refused(upload(root, b"while down"), 503)
        assert refused(download(root, kept), 404)  # not attached: no one's (and no 500)
    finally:
        endpoint.stop()
        started.stop()


def _container(fed: Fed, node: str, task_id: int, server_url: str) -> Api:
    token = fed[node].ok("POST", "/token/container", json={"task_id": task_id, "image": "img:1"})
    return Api(server_url, token["container_token"])


def test_a_container_creates_subtasks_from_its_collaborations_uploads(
    blob_server: BlobServer, fed: Fed
) -> None:
    x, y, a, b, c = (fed.ids[k] for k in ("X", "Y", "A", "B", "C"))
    url = blob_server.server.api_url
    parent = create_task(fed["alice"], x, {a: uploaded(fed["alice"], b"p")}).json()
    in_x = _container(fed, "nA", parent["id"], url)
    other = create_task(fed["carol"], y, {c: uploaded(fed["carol"], b"q")}).json()
    in_y = _container(fed, "nC", other["id"], url)

    from_y = uploaded(in_y, b"Y's")
    alices = uploaded(fed["alice"], b"alice's")
    nobodys = refused(create_task(in_x, x, {b: str(uuid.uuid4())}))
    assert refused(create_task(in_x, x, {b: from_y})) == nobodys
    assert refused(create_task(in_x, x, {b: alices})) == nobodys

    sub_input = uploaded(in_x, b"subtask input")
    sub = create_task(in_x, x, {b: sub_input})
    assert sub.status_code == 201, sub.text
    assert sub.json()["parent"]["id"] == parent["id"]
    row = blob_server.rows("uuid = ?", sub_input)[0]
    assert row[1:3] == ("container", parent["id"]) and row[4] == sub.json()["id"]
    assert download(fed["nB"], sub_input).content == b"subtask input"
    refused(download(in_y, sub_input), 403)
    refused(download(in_x, sub_input), 403)  # inputs are for the run's node

    # the subtask's result, reported by B's node, is read by the parent's container
    sub_run = runs_of(fed["nB"], sub.json()["id"])[b]
    partial = uploaded(fed["nB"], b"partial result")
    fed["nB"].ok("PATCH", f"/run/{sub_run['id']}", json={"result": partial, "status": "completed"})
    assert download(in_x, partial).content == b"partial result"
    refused(download(in_y, partial), 403)


PUBLISHED_TASK = Path(__file__).parent / "published" / "blob_task.py"


def _hybrid_decrypt(private_key, data: bytes) -> bytes:
    """vantage6 4.14's blob format: base64 RSA-wrapped AES key $ base64 IV $ raw AES-CTR."""
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    wrapped, iv, body = data.split(b"$", 2)
    key = private_key.decrypt(base64.b64decode(wrapped), padding.PKCS1v15())
    decryptor = Cipher(algorithms.AES(key), modes.CTR(base64.b64decode(iv))).decryptor()
    return decryptor.update(body) + decryptor.finalize()


def _hybrid_encrypt(public_key, data: bytes) -> bytes:
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key, iv = os.urandom(32), os.urandom(16)
    encryptor = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    wrapped = base64.b64encode(public_key.encrypt(key, padding.PKCS1v15()))
    return wrapped + b"$" + base64.b64encode(iv) + b"$" + encryptor.update(data)


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_the_published_client_runs_a_task_through_the_store(
    blob_server: BlobServer, encrypted: bool, tmp_path: Path
) -> None:
    """vantage6-client 4.14 uploads the input; the test is the node (reads the input blob,
    uploads a result blob, reports it); the client reads the result."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    server = blob_server.server
    root = Api.as_user(server.api_url, server.root_username, server.root_password)
    own = root.ok("POST", "/token/user/validate")["organization_id"]
    collab = root.ok(
        "POST",
        "/collaboration",
        json={"name": f"published-{encrypted}", "encrypted": encrypted, "organization_ids": [own]},
    )["id"]
    node_key = root.ok("POST", "/node", json={"collaboration_id": collab, "organization_id": own})
    node = Api.as_node(server.api_url, node_key["api_key"])
    key_arg, private_key = "-", None
    if encrypted:
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key_file = tmp_path / "root-org.pem"
        key_file.write_bytes(
            private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        key_arg = str(key_file)
    common = ["http://127.0.0.1", str(server.port), server.root_password, key_arg]

    steps = run_published_scenario(
        PUBLISHED_TASK, ["create", *common, str(collab), str(own)], timeout=180
    )
    task_id = steps[-2]["detail"]["task_id"]
    (run,) = node.ok("GET", "/run", params={"task_id": task_id, "state": "open"})["data"]
    assert run["blob_storage_used"] is True
    assert blob_server.rows("uuid = ?", run["input"])[0][1:3] == ("user", 1)
    stored = download(node, run["input"]).content
    if encrypted:
        assert b"average" not in stored  # the server holds ciphertext only
        serialized = _hybrid_decrypt(private_key, stored)
    else:
        serialized = base64.b64decode(stored)
    assert json.loads(serialized) == {"method": "average", "kwargs": {"column": "age"}}

    answer = json.dumps({"average": 42.5}).encode()
    if encrypted:
        body = _hybrid_encrypt(private_key.public_key(), answer)
    else:
        body = base64.b64encode(answer)
    result = uploaded(node, body)
    node.ok("PATCH", f"/run/{run['id']}", json={"result": result, "status": "completed"})

    steps = run_published_scenario(PUBLISHED_TASK, ["result", *common, str(task_id)], timeout=180)
    assert [json.loads(r) for r in steps[-2]["detail"]["results"]] == [{"average": 42.5}]
