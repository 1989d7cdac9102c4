"""``/blobstream`` on a server whose ``large_result_store`` is the filesystem backend."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import blobserver
from tests.api import Api
from tests.livestack import LiveServer
from tests.published import published_python

# a live server with a filesystem blob store, for this module
blob_dir = blobserver.blob_dir
live_server = blobserver.live_server

MIB = 1024 * 1024
PUBLISHED_SCRIPT = Path(__file__).parent / "published" / "blobstream.py"


@pytest.fixture(scope="module")
def fed(live_server: LiveServer, root_api: Api) -> dict:
    """Root's organization and another in a collaboration with a node; a node elsewhere."""
    own = root_api.ok("POST", "/token/user/validate")["organization_id"]
    other = root_api.ok("POST", "/organization", json={"name": "blob-other"})["id"]
    outsider = root_api.ok("POST", "/organization", json={"name": "blob-outsider"})["id"]
    collabs = {}
    for name, members in (("in", [own, other]), ("out", [outsider])):
        collabs[name] = root_api.ok(
            "POST",
            "/collaboration",
            json={"name": f"blob-{name}", "organization_ids": members, "encrypted": False},
        )["id"]
    nodes = {}
    for name, org in (("in", other), ("out", outsider)):
        created = root_api.ok(
            "POST", "/node", json={"collaboration_id": collabs[name], "organization_id": org}
        )
        nodes[name] = Api.as_node(live_server.api_url, created["api_key"])
    return {"own": own, "other": other, "collab": collabs["in"], "nodes": nodes}


def chunks(count: int) -> Iterator[bytes]:
    for index in range(count):
        yield hashlib.sha256(str(index).encode()).digest() * (MIB // 32)


def upload(api: Api, body: Iterator[bytes]) -> httpx.Response:
    headers = {**api._headers(), "Content-Type": "application/octet-stream"}
    return api.http.post("/blobstream", content=body, headers=headers)


def stored(blob_dir: Path) -> list[str]:
    return sorted(p.name for p in blob_dir.iterdir() if p.is_file())


def test_status_says_enabled(live_server: LiveServer) -> None:
    answer = httpx.get(live_server.api_url + "/blobstream/status")
    assert answer.json() == {"blob_store_enabled": True}


def test_a_stream_larger_than_the_body_limit_round_trips(
    live_server: LiveServer, root_api: Api, fed: dict, blob_dir: Path
) -> None:
    """40 MiB (the JSON body limit is 32 MiB), sent chunked; read back through a task's run."""
    created = upload(root_api, chunks(40))
    assert created.status_code == 201, created.text
    blob = created.json()["uuid"]
    assert (blob_dir / blob).stat().st_size == 40 * MIB

    assert root_api.get(f"/blobstream/{blob}").status_code == 404  # no run refers to it yet
    _task_with_blob_input(root_api, fed, blob)
    expected = hashlib.sha256(b"".join(chunks(40))).hexdigest()
    for api in (root_api, fed["nodes"]["in"]):
        with api.http.stream("GET", f"/blobstream/{blob}", headers=api._headers()) as answer:
            assert answer.status_code == 200
            assert answer.headers["content-type"] == "application/octet-stream"
            assert answer.headers["content-length"] == str(40 * MIB)
            assert blob in answer.headers["content-disposition"]
            hasher = hashlib.sha256()
            for piece in answer.iter_bytes():
                hasher.update(piece)
        assert hasher.hexdigest() == expected
    assert fed["nodes"]["out"].get(f"/blobstream/{blob}").status_code == 403


def test_bad_ids_and_callers(live_server: LiveServer, root_api: Api, fed: dict) -> None:
    assert root_api.get("/blobstream/not-a-uuid").status_code == 400
    assert root_api.get("/blobstream/..%2F..%2Fetc%2Fpasswd").status_code in {400, 404}
    unknown = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
    assert root_api.get(f"/blobstream/{unknown}").status_code == 404
    assert httpx.post(live_server.api_url + "/blobstream", content=b"x").status_code == 401
    assert upload(fed["nodes"]["in"], iter([b"from a node"])).status_code == 201


def test_a_cut_off_upload_leaves_nothing(live_server: LiveServer, root_api: Api, blob_dir: Path):
    before = stored(blob_dir)
    with socket.create_connection(("127.0.0.1", live_server.port)) as sock:
        sock.sendall(
            b"POST /api/blobstream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + f"Authorization: Bearer {root_api.token}\r\n".encode()
            + b"Content-Type: application/octet-stream\r\nContent-Length: 10485760\r\n\r\n"
            + b"x" * MIB
        )
        deadline = time.monotonic() + 10
        while not list((blob_dir / ".partial").iterdir()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list((blob_dir / ".partial").iterdir()), "the upload never began in the store"
    deadline = time.monotonic() + 10
    while list((blob_dir / ".partial").iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list((blob_dir / ".partial").iterdir()) == []
    assert stored(blob_dir) == before
    assert root_api.get("/blobstream/status").status_code == 200  # the server carries on


def _published(live_server: LiveServer, *arguments: str) -> dict:
    result = subprocess.run(
        [
            str(published_python()),
            str(PUBLISHED_SCRIPT),
            arguments[0],
            "http://127.0.0.1",
            str(live_server.port),
            live_server.root_password,
            *arguments[1:],
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _task_with_blob_input(root_api: Api, fed: dict, blob: str) -> dict:
    """A task whose input for the other organization is ``blob`` (root uploaded it)."""
    return root_api.ok(
        "POST",
        "/task",
        json={
            "image": "img:1",
            "name": "blob-input",
            "collaboration_id": fed["collab"],
            "organizations": [{"id": fed["other"], "input": blob}],
        },
    )


def test_the_published_client_uploads_and_downloads(
    live_server: LiveServer, root_api: Api, fed: dict
) -> None:
    """vantage6-client 4.14's own blob calls (status, chunked upload, streamed download)."""
    uploaded = _published(live_server, "upload", str(5 * MIB))
    assert uploaded["enabled"] is True
    _task_with_blob_input(root_api, fed, uploaded["uuid"])
    downloaded = _published(live_server, "download", uploaded["uuid"])
    assert downloaded == {"enabled": True, "sha256": uploaded["sha256"], "size": 5 * MIB}


def test_server_memory_does_not_grow_with_the_blob(
    live_server: LiveServer, root_api: Api, fed: dict
) -> None:
    """A 96 MiB blob up and down moves the server's peak resident memory by far less."""

    def peak_kib() -> int:
        status = Path(f"/proc/{live_server.process.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
        return int(line.split()[1])

    before = peak_kib()
    blob = upload(root_api, chunks(96)).json()["uuid"]
    _task_with_blob_input(root_api, fed, blob)
    with root_api.http.stream("GET", f"/blobstream/{blob}", headers=root_api._headers()) as answer:
        assert answer.status_code == 200
        assert sum(len(piece) for piece in answer.iter_bytes()) == 96 * MIB
    grown_mib = (peak_kib() - before) / 1024
    assert grown_mib < 32, f"server peak memory grew by {grown_mib:.0f} MiB"


def test_a_store_that_is_down_is_a_503_and_loses_nothing(
    root_api: Api, fed: dict, blob_dir: Path
) -> None:
    """The blob folder vanishes (an unmounted volume): uploads and downloads say so quickly."""
    kept = upload(root_api, iter([b"stored before"])).json()["uuid"]
    _task_with_blob_input(root_api, fed, kept)
    unmounted = blob_dir.with_name(blob_dir.name + "-unmounted")
    blob_dir.rename(unmounted)
    try:
        refused = upload(root_api, chunks(2))
        assert refused.status_code == 503, refused.text
        assert "cannot be reached" in refused.json()["msg"]
        unreadable = root_api.get(f"/blobstream/{kept}")
        assert unreadable.status_code == 503, unreadable.text
        assert "cannot be reached" in unreadable.json()["msg"]
        assert not blob_dir.exists()
    finally:
        unmounted.rename(blob_dir)
    assert (blob_dir / kept).read_bytes() == b"stored before"
    assert root_api.get(f"/blobstream/{kept}").content == b"stored before"
    assert upload(root_api, iter([b"again"])).status_code == 201
