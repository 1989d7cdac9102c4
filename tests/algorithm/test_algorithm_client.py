"""AlgorithmClient against a fake node proxy, and wire compatibility with vantage6 4.14's."""

from __future__ import annotations

import base64
import json
import subprocess
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest

from tests.algorithm.helpers import IDENTITY, vantage6_token
from tests.published import published_python
from vantage6_algorithm.client import AlgorithmClient, AlgorithmClientError

RESULTS = [{"count": 3, "sum": 1.5}, [1, 2, 3], "text", None, {"nested": {"ü": 0.1}}]


def b64json(value) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


class FakeProxy:
    """Just enough of the node proxy: records requests, answers like vantage6 would."""

    per_page = 2

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.status_calls = 0
        self.finish_after = 3
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _answer(self, status: int, body) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                record = {
                    "method": method,
                    "path": url.path,
                    "query": {k: v[0] for k, v in parse_qs(url.query).items()},
                    "auth": self.headers.get("Authorization"),
                    "json": json.loads(raw) if raw else None,
                }
                proxy.requests.append(record)
                status, body = proxy.route(record)
                self._answer(status, body)

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def page(self, items: list, query: dict) -> dict:
        page = int(query.get("page", 1))
        start = (page - 1) * self.per_page
        chunk = items[start : start + self.per_page]
        has_next = start + self.per_page < len(items)
        links = {"self": f"?page={page}", "next": f"?page={page + 1}" if has_next else None}
        return {"data": chunk, "links": links}

    def route(self, r: dict):
        path, q = r["path"], r["query"]
        if r["method"] == "POST" and path == "/task":
            return 201, {"id": 42, "name": r["json"]["name"], "status": "pending"}
        if path == "/task/42/status":
            self.status_calls += 1
            done = self.status_calls >= self.finish_after
            return 200, {"status": "completed" if done else "active"}
        if path == "/task/43/status":
            return 200, {"status": "crashed"}
        if path == "/task/42":
            return 200, {"id": 42, "status": "completed"}
        if path == "/result" and q.get("task_id") == "42":
            runs = [
                {
                    "id": i + 1,
                    "result": None if v is None else b64json(v),
                    "blob_storage_used": False,
                }
                for i, v in enumerate(RESULTS)
            ]
            return 200, self.page(runs, q)
        if path == "/result" and q.get("task_id") == "44":
            return 200, self.page([{"id": 9, "result": "%%%not-base64"}], q)
        if path == "/result/2":
            return 200, {"id": 2, "result": b64json(RESULTS[1])}
        if path == "/run":
            return 200, self.page([{"id": 1, "task": {"id": int(q["task_id"])}}], q)
        if path == "/organization" and ("collaboration_id" in q or "study_id" in q):
            orgs = [{"id": i, "name": f"org{i}"} for i in (1, 2, 3)]
            return 200, self.page(orgs, q)
        if path.startswith("/organization/"):
            org = int(path.rsplit("/", 1)[1])
            return 200, {"id": org, "name": f"org{org}", "public_key": ""}
        if path == "/collaboration/2":
            return 200, {"id": 2, "encrypted": False}
        if path.startswith("/node/"):
            return 200, {"id": int(path.rsplit("/", 1)[1])}
        if path == "/vpn/algorithm/addresses":
            return 200, {"addresses": [{"ip": "10.0.0.1", "port": 8888, "query": q}]}
        if path == "/blobstream/status":
            return 200, {"blob_store_enabled": False}
        if path == "/forbidden":
            return 403, {"msg": "You lack the permission to do that!"}
        return 404, {"msg": f"no route {path}"}


@pytest.fixture
def proxy():
    fake = FakeProxy()
    yield fake
    fake.close()


@pytest.fixture
def client(proxy):
    return AlgorithmClient(vantage6_token(), "127.0.0.1", proxy.port, "", connection_attempts=1)


def test_identity_from_token(client):
    assert client.node_id == 7 and client.organization_id == 3 and client.collaboration_id == 2
    assert client.image == IDENTITY["image"] and client.databases == IDENTITY["databases"]
    assert client.task_id == 11 and client.study_id is None
    assert client.headers == {"Authorization": f"Bearer {vantage6_token()}"}


def test_base_path_variants():
    token = vantage6_token()
    assert AlgorithmClient(token, "http://h", 80, "/api").base_path == "http://h:80/api"
    assert AlgorithmClient(token, "h", None, "").base_path == "http://h"
    assert AlgorithmClient(token, "https://h/", "", "api/").base_path == "https://h/api"


def test_create_subtask_wire_format(client, proxy):
    task = client.task.create(
        {"method": "partial", "kwargs": {"cols": ["a"], "w": np.float64(0.5)}},
        organizations=[1, 2],
        name="sub",
    )
    assert task["id"] == 42
    post = [r for r in proxy.requests if r["method"] == "POST"][0]
    assert post["path"] == "/task" and post["auth"] == f"Bearer {vantage6_token()}"
    body = post["json"]
    assert body["image"] == IDENTITY["image"]
    assert body["collaboration_id"] == 2
    assert body["databases"] == IDENTITY["databases"]
    assert body["name"] == "sub" and "node_id=7" in body["description"]
    assert [o["id"] for o in body["organizations"]] == [1, 2]
    for org in body["organizations"]:
        decoded = json.loads(base64.b64decode(org["input"], validate=True))
        assert decoded == {"method": "partial", "kwargs": {"cols": ["a"], "w": 0.5}}
    assert "study_id" not in body and "store_id" not in body


def test_create_subtask_with_own_databases_and_no_organizations(client, proxy):
    client.task.create({"method": "m"}, organizations=[3], databases=[{"label": "other"}])
    assert proxy.requests[-1]["json"]["databases"] == [{"label": "other"}]
    with pytest.raises(ValueError):
        client.task.create({"method": "m"}, organizations=[])


def test_wait_for_results_polls_and_decodes_all_pages(client, proxy):
    results = client.wait_for_results(42, interval=0.01)
    assert results == [r for r in RESULTS if r is not None]
    assert proxy.status_calls == 3
    pages = [r["query"]["page"] for r in proxy.requests if r["path"] == "/result"]
    assert pages == ["1", "2", "3"]


def test_wait_for_task_completion_reports_failure_status(client):
    assert client.wait_for_task_completion(43, interval=0.01) == "crashed"


def test_wait_timeout(client, proxy):
    proxy.finish_after = 10**6
    with pytest.raises(TimeoutError):
        client.wait_for_task_completion(42, interval=0.05, timeout=0.2)


def test_undecodable_result_raises(client):
    with pytest.raises(AlgorithmClientError, match="could not be decoded"):
        client.result.from_task(44)


def test_other_endpoints(client, proxy):
    assert client.result.get(2) == [1, 2, 3]
    assert client.run.from_task(42) == [{"id": 1, "task": {"id": 42}}]
    assert [o["id"] for o in client.organization.list()] == [1, 2, 3]
    assert proxy.requests[-1]["query"]["collaboration_id"] == "2"
    assert client.organization.get(2)["name"] == "org2"
    assert client.collaboration.get() == {"id": 2, "encrypted": False}
    assert client.node.get() == {"id": 7}
    assert client.node.get(9) == {"id": 9}
    assert client.task.get(42)["status"] == "completed"
    addresses = client.vpn.get_addresses(only_children=True, label="p")
    assert addresses[0]["query"] == {"only_children": "1", "label": "p"}


def test_http_errors_raise_with_message(client):
    with pytest.raises(AlgorithmClientError, match="status 403: You lack") as info:
        client.request("forbidden")
    assert info.value.status_code == 403


def test_unreachable_proxy():
    client = AlgorithmClient(vantage6_token(), "127.0.0.1", 9, "", connection_attempts=2)
    with pytest.raises(AlgorithmClientError, match="Could not reach"):
        client.organization.get(1)


# ------------------------------------------------------------------------------------------
# wire compatibility with the published vantage6 4.14 AlgorithmClient
# ------------------------------------------------------------------------------------------
_PUBLISHED = textwrap.dedent(
    """
    import json, sys
    from vantage6.algorithm.client import AlgorithmClient
    job = json.load(sys.stdin)
    c = AlgorithmClient(token=job["token"], host="http://127.0.0.1", port=job["port"], path="")
    c.task.create(input_=job["input"], organizations=[1, 2], name="sub", description="d")
    print(json.dumps({"results": c.wait_for_results(42, interval=0.01)}))
    """
)


def test_same_wire_format_as_published_client(proxy, client):
    python = published_python()
    task_input = {"method": "partial", "args": [1], "kwargs": {"columns": ["a", "ü"], "x": 2.5}}
    job = {"token": vantage6_token(), "port": proxy.port, "input": task_input}
    proc = subprocess.run(
        [str(python), "-c", _PUBLISHED],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    published_results = json.loads(proc.stdout.strip().splitlines()[-1])["results"]
    published_post = [r for r in proxy.requests if r["method"] == "POST"][-1]["json"]

    proxy.status_calls = 0
    client.task.create(task_input, organizations=[1, 2], name="sub", description="d")
    our_results = client.wait_for_results(42, interval=0.01)
    our_post = [r for r in proxy.requests if r["method"] == "POST"][-1]["json"]

    assert our_results == published_results
    assert set(our_post) == set(published_post)
    for key in ("name", "image", "collaboration_id", "description", "databases"):
        assert our_post[key] == published_post[key]
    for ours, theirs in zip(
        our_post["organizations"], published_post["organizations"], strict=True
    ):
        assert ours["id"] == theirs["id"]
        assert json.loads(base64.b64decode(ours["input"])) == json.loads(
            base64.b64decode(theirs["input"])
        )
