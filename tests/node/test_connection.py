"""Node token handling and the socket state machine (against a live server)."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.api import Api
from tests.common.token_server import API, TokenServer
from tests.livestack import start_server
from vantage6_node.connection import AuthenticationFailed, Authenticator, LinkState, SocketLink
from vantage6_node.server_api import ServerAPI, ServerUnavailable


def test_token_refreshed_before_expiry():
    async def scenario():
        server = TokenServer(lifetime=2.0)
        api = ServerAPI(API, transport=server.transport())
        auth = Authenticator(api, "good")
        await auth.login()
        assert auth.node_id == 3
        first = await auth.access_token()
        keeper = asyncio.create_task(auth.keep_fresh())
        await asyncio.sleep(2.2)
        assert server.refreshes >= 1
        assert await auth.access_token() != first
        assert time.time() < auth.expires_at  # never handed out an expired token
        server.refuse_refresh = True
        await auth.token_rejected(auth.access or "")
        assert server.logins == 2  # refresh refused: logged in again with the API key
        auth.stop.set()
        await keeper
        await api.close()

    asyncio.run(scenario())


def test_wrong_api_key_is_fatal():
    async def scenario():
        server = TokenServer()
        api = ServerAPI(API, transport=server.transport())
        with pytest.raises(AuthenticationFailed):
            await Authenticator(api, "bad").login()
        await api.close()

    asyncio.run(scenario())


def test_login_waits_for_an_unreachable_server():
    async def scenario():
        api = ServerAPI("http://127.0.0.1:9/api")
        auth = Authenticator(api, "k", stop=api.stopping)
        task = asyncio.create_task(auth.login())
        await asyncio.sleep(1.0)
        assert not task.done()
        assert auth.last_error
        api.stopping.set()
        with pytest.raises(ServerUnavailable):
            await asyncio.wait_for(task, 5)
        await api.close()

    asyncio.run(scenario())


@pytest.fixture
def node_key():
    server, cleanup = start_server("sqlite")
    root = Api.as_user(server.api_url, server.root_username, server.root_password)
    org = root.ok("POST", "/organization", json={"name": "conn-org"})
    collab = root.ok(
        "POST",
        "/collaboration",
        json={"name": "conn", "organization_ids": [org["id"]], "encrypted": False},
    )
    node = root.ok(
        "POST", "/node", json={"collaboration_id": collab["id"], "organization_id": org["id"]}
    )
    yield server, node["api_key"], node["id"], root
    cleanup()


def test_socket_reconnects_and_catches_up(node_key):
    server, api_key, node_id, root = node_key

    async def scenario():
        api = ServerAPI(server.api_url)
        auth = Authenticator(api, api_key, stop=api.stopping)
        await auth.login()
        assert auth.node_id == node_id
        syncs: list[float] = []
        got_sync = asyncio.Event()

        async def on_connect() -> None:
            syncs.append(time.monotonic())

        async def on_sync(*_args) -> None:
            got_sync.set()

        link = SocketLink(
            server.url,
            auth,
            handlers={"sync": on_sync},
            on_connect=on_connect,
            reconnect_delay=0.2,
            reconnect_delay_max=1.0,
        )
        runner = asyncio.create_task(link.run())
        await asyncio.wait_for(link.connected.wait(), 15)
        await asyncio.wait_for(got_sync.wait(), 5)  # the server's catch-up request
        assert await link.emit("ping")
        assert root.ok("GET", f"/node/{node_id}")["status"] == "online"

        await asyncio.to_thread(server.stop)
        deadline = time.monotonic() + 15
        while link.state == LinkState.CONNECTED:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert not await link.emit("ping")  # nothing is sent while down
        await asyncio.sleep(2.0)  # several failed attempts with backoff
        got_sync.clear()
        await asyncio.to_thread(server.start)
        await asyncio.wait_for(link.connected.wait(), 20)
        await asyncio.wait_for(got_sync.wait(), 5)
        assert len(syncs) == 2 and link.connections == 2
        states = [s for _, s in link.history]
        assert states[:3] == [LinkState.IDLE, LinkState.CONNECTING, LinkState.CONNECTED]
        assert states.count(LinkState.BACKOFF) >= 2
        assert states[-1] == LinkState.CONNECTED

        # the server refuses the token the socket was made with (a 401 to a request, or
        # expired_token): the node renews it and connects anew with the new one, and catches up
        refused = auth.access
        got_sync.clear()
        await auth.token_rejected(refused or "")
        deadline = time.monotonic() + 15
        while link.connections < 3 or link.state != LinkState.CONNECTED:
            assert time.monotonic() < deadline, link.history[-6:]
            await asyncio.sleep(0.05)
        assert auth.access != refused and link._connected_with == auth.access
        await asyncio.wait_for(got_sync.wait(), 5)
        assert len(syncs) == 3
        await link.close()
        await runner
        assert link.state == LinkState.CLOSED
        await api.close()

    asyncio.run(scenario())


def test_node_refuses_to_start_with_a_wrong_api_key(podman_images, node_key, tmp_path):
    import subprocess
    import sys

    server = node_key[0]
    config = tmp_path / "node.yaml"
    config.write_text(
        f"api_key: not-the-key\nserver_url: http://127.0.0.1\nport: {server.port}\n"
        f"task_dir: {tmp_path / 'tasks'}\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "vantage6_node", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 3
    assert "API key" in proc.stderr
