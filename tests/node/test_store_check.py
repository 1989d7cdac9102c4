"""The node's store check against stores that answer badly (a real HTTP server on loopback
playing the store; the server's answer about the store is given directly)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.livestack import free_port
from vantage6_common.registry import RegistryError
from vantage6_node.algorithm_store import StoreCheck, StoreReader, StoreUnreadable
from vantage6_node.server_api import ServerError

IMAGE = "r.example.org/algos/a:1.0"
DIGEST = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64


class FakeStore(BaseHTTPRequestHandler):
    """Answers ``GET /api/algorithm`` with whatever the test put in ``answer``."""

    answer: tuple[int, bytes] = (200, b"{}")
    seen: list[dict[str, Any]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        FakeStore.seen.append(
            {
                "path": self.path,
                "server_url": self.headers.get("server_url"),
                "authorization": self.headers.get("Authorization"),
            }
        )
        status, body = FakeStore.answer
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def store() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeStore)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeStore.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _page(*algorithms: dict[str, Any]) -> tuple[int, bytes]:
    return 200, json.dumps({"data": list(algorithms)}).encode()


class Server:
    """The node's server as far as the check uses it."""

    def __init__(self, store: dict[str, Any] | Exception) -> None:
        self.store = store

    async def get_algorithm_store(self, store_id: int) -> dict[str, Any]:
        if isinstance(self.store, Exception):
            raise self.store
        return self.store


def _verdict(
    store_url: str,
    image: str = IMAGE,
    server: Server | None = None,
    current: str | Exception = DIGEST,
    collaboration: int | None = None,
):
    def digest_of(_image: str) -> str:
        if isinstance(current, Exception):
            raise current
        return current

    coupled = {"id": collaboration} if collaboration is not None else None
    api = server or Server({"id": 1, "url": store_url, "collaboration": coupled})
    check = StoreCheck(api, [store_url], StoreReader("http://server/api", timeout=3), digest_of)
    return asyncio.run(check.verdict(image, 1, 7))


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        ((500, b'{"msg": "database is down"}'), "HTTP 500: database is down"),
        ((401, b'{"msg": "Token is not valid"}'), "HTTP 401"),
        ((200, b"<html>not json</html>"), "not a page of algorithms"),
        ((200, b'{"data": {"image": "x"}}'), "not a page of algorithms"),
        ((200, b"[1, 2]"), "not a page of algorithms"),
    ],
)
def test_a_store_that_answers_badly_refuses_with_a_reason(store, answer, words):
    FakeStore.answer = answer
    verdict = _verdict(store)
    assert not verdict.allowed and words in verdict.reason


def test_the_node_asks_without_its_token(store):
    FakeStore.answer = _page({"image": IMAGE, "digest": DIGEST, "status": "approved"})
    verdict = _verdict(store)
    assert verdict.allowed and verdict.image == f"r.example.org/algos/a@{DIGEST}"
    (request,) = FakeStore.seen
    assert request["authorization"] is None and request["server_url"] == "http://server/api"
    assert "image=r.example.org%2Falgos%2Fa%3A1.0" in request["path"]


@pytest.mark.parametrize(
    ("algorithms", "kwargs", "words"),
    [
        ([], {}, "not approved"),
        # another image, or a status other than approved, does not count
        ([{"image": IMAGE + "x", "digest": DIGEST}], {}, "not approved"),
        ([{"image": IMAGE, "digest": DIGEST, "status": "under review"}], {}, "not approved"),
        ([{"image": IMAGE, "digest": None}], {}, "recorded no digest"),
        ([{"image": IMAGE, "digest": DIGEST}], {"current": OTHER}, "moved"),
        ([{"image": IMAGE, "digest": DIGEST}], {"image": f"{IMAGE}@{OTHER}"}, "not the digest"),
        (
            [{"image": IMAGE, "digest": DIGEST}],
            {"current": RegistryError("registry r.example.org cannot be reached")},
            "cannot be reached",
        ),
        ([{"image": IMAGE, "digest": DIGEST}], {"image": "Not An Image"}, "not an image"),
        ([{"image": IMAGE, "digest": DIGEST}], {"collaboration": 8}, "not coupled"),
    ],
)
def test_refusals(store, algorithms, kwargs, words):
    FakeStore.answer = _page(*algorithms)
    verdict = _verdict(store, **kwargs)
    assert not verdict.allowed and words in verdict.reason, verdict


def test_a_store_the_server_does_not_show_or_cannot_reach(store):
    hidden = _verdict(store, server=Server(ServerError(403, "You lack the permission")))
    assert not hidden.allowed and "not coupled to collaboration 7" in hidden.reason
    gone = f"http://127.0.0.1:{free_port()}"
    reader = StoreReader("http://server/api", timeout=3)
    with pytest.raises(StoreUnreadable, match="cannot be reached"):
        reader.approved(gone, IMAGE)
