"""Our algorithm tools on a server with a blob store, through the real node proxy: a subtask's
input goes up per organization via the proxy's ``POST /blobstream`` (``X-Public-Key``; the
proxy encrypts), and its results, written as blobs, come back through ``GET /blobstream``
(the proxy decrypts). Stand-in nodes work the subtask's runs through the API."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.client import blobworld
from vantage6_algorithm.client import AlgorithmClient
from vantage6_common import serialization
from vantage6_common.http import TokenAuth
from vantage6_node.config import EncryptionConfig, ProxyConfig
from vantage6_node.encryption import NodeEncryption
from vantage6_node.org_keys import OrgKeys
from vantage6_node.proxy import NodeProxy, RunContext
from vantage6_node.server_api import ServerAPI

blob_dir, live_server, world = blobworld.blob_dir, blobworld.live_server, blobworld.world


class ProxyThread:
    """The node proxy of organization A's node, serving one run's socket, on its own loop."""

    def __init__(self, api_url: str, api_key: str, key: Path, collab: dict, org: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.api_url, self.api_key, self.key = api_url, api_key, key
        self.collab, self.org = collab, org

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    async def _start(self, run: dict[str, Any], socket: Path, image: str) -> str:
        auth = TokenAuth(
            f"{self.api_url}/token/refresh",
            login_url=f"{self.api_url}/token/node",
            login_body={"api_key": self.api_key},
        )
        self.api = ServerAPI(self.api_url, auth)
        token = await self.api.container_token(run["task"]["id"], image)
        encryption = NodeEncryption(
            EncryptionConfig(enabled=self.collab["encrypted"], private_key=self.key), self.key
        )
        org_keys = OrgKeys(self.api, encryption, self.collab["id"], self.org)
        await org_keys.start()
        self.proxy = NodeProxy(self.api, org_keys, ProxyConfig(server_retry_seconds=5))
        await self.proxy.start()
        context = RunContext(
            run_id=run["id"],
            task_id=run["task"]["id"],
            image=image,
            collaboration_id=self.collab["id"],
            token=token,
        )
        await self.proxy.serve_run(context, socket)
        return token

    def start(self, run: dict[str, Any], socket: Path, image: str) -> str:
        return self.call(self._start(run, socket, image))

    async def _stop(self) -> None:
        await self.proxy.close()
        await self.api.close()

    def stop(self) -> None:
        self.call(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def json_chunks(value: Any) -> Iterator[bytes]:
    yield serialization.dumps_bytes(value)


@pytest.mark.parametrize("kind", ["plain", "secret"])
def test_subtask_inputs_and_results_as_blobs(
    world: dict, live_server, blob_dir: Path, tmp_path: Path, kind: str
) -> None:
    alice, collab = world["alice"], world[kind]
    org_a, org_b = world["orgs"]
    image = "localhost/v6demo"
    alice.setup_encryption(world["key_a"] if kind == "secret" else None)
    parent = alice.task.create(
        collaboration=collab["id"],
        organizations=[org_a],
        name="central",
        image=image,
        input_={"method": "central"},
    )
    node_a = world["nodes"][collab["id"], org_a]
    run = node_a.open_runs()[0]
    assert run["task"]["id"] == parent["id"]
    node_a.start(run)
    proxy = ProxyThread(
        live_server.api_url, world["api_keys"][collab["id"], org_a], world["key_a"], collab, org_a
    )
    socket = tmp_path / "proxy.sock"
    try:
        token = proxy.start(run, socket, image)
        http = httpx.Client(transport=httpx.HTTPTransport(uds=str(socket)), timeout=60)
        algo = AlgorithmClient(token, "http://proxy", None, "", http_client=http)
        assert algo.blob_store_enabled() is True
        marker = f"needle-{uuid.uuid4().hex}"
        sub = algo.task.create(
            input_={"method": "partial", "kwargs": {"marker": marker}},
            organizations=[org_a, org_b],
            name="partial",
        )
        runs = alice.run.from_task(sub["id"], decrypt_input=False).data
        assert {r["blob_storage_used"] for r in runs} == {True}
        for ref in (r["input"] for r in runs):
            stored = (blob_dir / ref).read_bytes()
            assert marker.encode() not in stored
            if kind == "secret":
                assert stored.count(b"$") >= 2  # key$iv$ header: the proxy encrypted it
            else:
                assert serialization.loads(serialization.b64_to_bytes(stored))["kwargs"] == {
                    "marker": marker
                }
        for org in (org_a, org_b):  # each node reads its own input, writes a result blob
            node = world["nodes"][collab["id"], org]
            for open_run in node.open_runs():
                if open_run["task"]["id"] != sub["id"]:
                    continue
                node.start(open_run)
                seen = node.read_input(open_run)["kwargs"]["marker"]
                node.finish_with_blob(open_run, json_chunks({"org": org, "seen": seen}))
        results = algo.wait_for_results(sub["id"], interval=0.2, timeout=60)
        assert sorted(results, key=lambda r: r["org"]) == [
            {"org": org, "seen": marker} for org in sorted((org_a, org_b))
        ]
        one = [r for r in runs if r["organization"]["id"] == org_b][0]
        assert algo.result.get(one["id"]) == {"org": org_b, "seen": marker}
        target = tmp_path / "result.json"
        size = algo.result.download(one["id"], target)
        assert serialization.loads(target.read_bytes()) == {"org": org_b, "seen": marker}
        assert size == target.stat().st_size
        http.close()
    finally:
        proxy.stop()
        node_a.finish_with_blob(run, json_chunks({"done": True}))
