"""The node proxy against a fake server: tokens, allowed calls, encryption, retries, status hold."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import uuid
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from vantage6_common import crypto
from vantage6_common.http import TokenAuth
from vantage6_common.scheme_policy import SchemePolicy
from vantage6_node.config import EncryptionConfig, ProxyConfig
from vantage6_node.encryption import NodeEncryption
from vantage6_node.org_keys import OrgKeys
from vantage6_node.proxy import NodeProxy, RunContext
from vantage6_node.server_api import ServerAPI


class FakeServer:
    """Records requests; answers like the vantage6 server for the few paths used here."""

    def __init__(self, org_keys: dict[int, str]) -> None:
        self.org_keys = org_keys
        self.requests: list[tuple[str, str, str, object]] = []
        self.valid_tokens = {"container-token"}
        self.task_status = "active"
        self.results: list[dict] = []
        self.schemes: dict[int, list[str]] = {}
        self.blobs: dict[str, bytes] = {}
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def handle(self, request: web.Request) -> web.Response:
        if request.path.startswith("/api/blobstream"):
            return await self.blobstream(request)
        body = await request.json() if request.can_read_body else None
        token = request.headers.get("Authorization", "")[7:]
        path = request.path.removeprefix("/api")
        self.requests.append((request.method, path, token, body))
        if path == "/token/container":
            self.valid_tokens.add("renewed-token")
            return web.json_response({"container_token": "renewed-token"})
        if path == "/token/node":
            return web.json_response({"access_token": "node-token"})
        if token not in self.valid_tokens and token != "node-token":
            return web.json_response({"msg": "token expired"}, status=401)
        if path.startswith("/organization/"):
            org_id = int(path.rsplit("/", 1)[1])
            org = {"id": org_id, "public_key": self.org_keys.get(org_id)}
            if org_id in self.schemes:
                org["encryption_schemes"] = self.schemes[org_id]
            return web.json_response(org)
        if path == "/task" and request.method == "POST":
            return web.json_response({"id": 99}, status=201)
        if path.endswith("/status"):
            return web.json_response({"status": self.task_status})
        if path == "/result":
            return web.json_response({"data": self.results, "links": {}})
        return web.json_response({"path": path, "query": dict(request.query)})

    async def blobstream(self, request: web.Request) -> web.Response:
        """Keeps blobs in memory (small test blobs), by uuid."""
        token = request.headers.get("Authorization", "")[7:]
        self.requests.append((request.method, request.path, token, dict(request.headers)))
        if request.method == "POST":
            blob = str(uuid.uuid4())
            self.blobs[blob] = await request.read()
            return web.json_response({"uuid": blob}, status=201)
        blob = request.path.rsplit("/", 1)[1]
        if blob not in self.blobs:
            return web.json_response(
                {"msg": f"No run found with input or result id={blob}"}, status=404
            )
        return web.Response(body=self.blobs[blob], content_type="application/octet-stream")

    async def start(self, port: int = 0) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def node_tokens() -> TokenAuth:
    """The node's own token, as if logged in (the fake server accepts ``node-token``)."""
    auth = TokenAuth("http://unused/token/refresh")
    auth.set_tokens({"access_token": "node-token"})
    return auth


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    root = tmp_path_factory.mktemp("proxy-keys")
    out = {}
    for org in (1, 2, 3):
        path = root / f"org{org}.pem"
        crypto.save_private_key(crypto.generate_private_key(2048), path)
        out[org] = path
    return out


@contextlib.asynccontextmanager
async def _proxy_world(
    tmp_path: Path, keys, encrypted: bool, retry: float = 5.0, setting: str = "vantage6"
):
    """A fake server, the node proxy in front of it and a container's client on its socket;
    ``setting`` is the collaboration's ``encryption_scheme``."""
    org_keys = {org: crypto.Cryptor(path).public_key_str for org, path in keys.items()}
    server = FakeServer(org_keys)
    await server.start()
    api = ServerAPI(f"http://127.0.0.1:{server.port}/api", node_tokens())
    enc = NodeEncryption(EncryptionConfig(enabled=encrypted, private_key=keys[1]), keys[1])
    enc.setup(encrypted, SchemePolicy(setting))
    org_keys = OrgKeys(api, enc, collaboration_id=1, organization_id=1)
    proxy = NodeProxy(
        api, org_keys, ProxyConfig(server_retry_seconds=retry, status_hold_seconds=3.0)
    )
    await proxy.start()
    sock = tmp_path / "p.sock"
    ctx = RunContext(run_id=5, task_id=10, image="img", collaboration_id=1, token="container-token")
    await proxy.serve_run(ctx, sock)
    client = aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(sock)))
    try:
        yield server, api, proxy, client, ctx
    finally:
        await client.close()
        await proxy.close()
        await api.close()
        await server.stop()


AUTH = {"Authorization": "Bearer container-token"}


def test_tokens_and_allowed_calls(tmp_path, keys):
    async def scenario():
        async with _proxy_world(tmp_path, keys, encrypted=False) as world:
            server, _api, proxy, client, ctx = world
            async with client.get("http://proxy/organization/2") as resp:
                assert resp.status == 401
            async with client.get(
                "http://proxy/organization/2", headers={"Authorization": "Bearer forged"}
            ) as resp:
                assert resp.status == 401
            async with client.get("http://proxy/organization/2", headers=AUTH) as resp:
                assert resp.status == 200
                assert (await resp.json())["id"] == 2
            assert server.requests[-1][2] == "container-token"
            for method, path in [
                ("DELETE", "/task/1"),
                ("POST", "/user"),
                ("GET", "/user"),
                ("PATCH", "/run/1"),
                ("POST", "/token/node"),
                ("GET", "/../token/node"),
            ]:
                async with client.request(method, f"http://proxy{path}", headers=AUTH) as resp:
                    assert resp.status in (403, 404), (method, path, resp.status)
            forwarded = {(m, p) for m, p, *_ in server.requests}
            assert ("POST", "/user") not in forwarded and ("PATCH", "/run/1") not in forwarded
            # the /api prefix is tolerated; query strings pass (repeated keys too)
            async with client.get(
                "http://proxy/api/run?task_id=3&include=task&include=x", headers=AUTH
            ) as resp:
                assert (await resp.json())["path"] == "/run"

    asyncio.run(scenario())


def test_subtask_input_encrypted_per_organization(tmp_path, keys):
    async def scenario():
        async with _proxy_world(tmp_path, keys, encrypted=True) as world:
            server, _api, proxy, client, ctx = world
            payload = {"method": "partial", "kwargs": {"x": 1}}
            b64 = base64.b64encode(json.dumps(payload).encode()).decode()
            body = {
                "image": "img",
                "collaboration_id": 1,
                "organizations": [{"id": 2, "input": b64}, {"id": 3, "input": b64}],
            }
            async with client.post("http://proxy/task", json=body, headers=AUTH) as resp:
                assert resp.status == 201
            method, path, token, sent = server.requests[-1]
            assert (method, path) == ("POST", "/task")
            for org in sent["organizations"]:
                text = org["input"]
                assert crypto.detect_scheme(text) == crypto.SCHEME_V6
                plain = crypto.Cryptor(keys[org["id"]]).decrypt_str_to_bytes(text)
                assert json.loads(plain) == payload
                # another organization cannot read it; PKCS#1 v1.5 may "succeed" with a
                # synthetic key (OpenSSL's implicit rejection), giving garbage, not the input
                try:
                    wrong = crypto.Cryptor(keys[1]).decrypt_str_to_bytes(text)
                except crypto.DecryptionError:
                    wrong = None
                assert wrong != plain
            # what the organizations' nodes announce plays no part: the collaboration decides
            server.schemes = {2: ["gcm-oaep", "v6-ctr"], 3: ["gcm-oaep", "v6-ctr"]}
            proxy.org_keys.forget()  # ask the server again for the organizations' keys
            async with client.post("http://proxy/task", json=body, headers=AUTH) as resp:
                assert resp.status == 201
            sent = server.requests[-1][3]
            schemes = {o["id"]: crypto.detect_scheme(o["input"]) for o in sent["organizations"]}
            assert schemes == {2: crypto.SCHEME_V6, 3: crypto.SCHEME_V6}
            # an authenticated collaboration: every organization gets the authenticated format,
            # also one whose nodes never announced it
            server.schemes = {}
            proxy.encryption.set_policy(SchemePolicy("authenticated"))
            async with client.post("http://proxy/task", json=body, headers=AUTH) as resp:
                assert resp.status == 201
            sent = server.requests[-1][3]
            schemes = {o["id"]: crypto.detect_scheme(o["input"]) for o in sent["organizations"]}
            assert schemes == {2: crypto.SCHEME_GCM, 3: crypto.SCHEME_GCM}
            for org in sent["organizations"]:
                plain = crypto.Cryptor(keys[org["id"]]).decrypt_str_to_bytes(org["input"])
                assert json.loads(plain) == payload
            # another image or collaboration is refused before reaching the server
            for bad in ({**body, "image": "other"}, {**body, "collaboration_id": 9}):
                async with client.post("http://proxy/task", json=bad, headers=AUTH) as resp:
                    assert resp.status == 403

    asyncio.run(scenario())


def test_organization_keys_are_kept_and_asked_again_when_missing(tmp_path, keys):
    async def scenario():
        async with _proxy_world(tmp_path, keys, encrypted=True) as world:
            server, session, proxy, client, ctx = world
            key3 = server.org_keys.pop(3)
            body = {
                "image": "img",
                "organizations": [{"id": 3, "input": base64.b64encode(b"x=1").decode()}],
            }

            def lookups() -> int:
                return sum(1 for r in server.requests if r[1] == "/organization/3")

            async with client.post("http://proxy/task", json=body, headers=AUTH) as resp:
                assert resp.status == 400
                assert "organization 3 has no public key" in (await resp.json())["msg"]
            assert lookups() == 2  # asked once more before giving up
            assert not [r for r in server.requests if r[:2] == ("POST", "/task")]
            server.org_keys[3] = key3  # the organization uploads its key
            async with client.post("http://proxy/task", json=body, headers=AUTH) as resp:
                assert resp.status == 201
            sent = server.requests[-1][3]["organizations"][0]["input"]
            assert crypto.Cryptor(keys[3]).decrypt_str_to_bytes(sent) == b"x=1"
            # a key the server gave is used again for the next subtask, without asking
            before = lookups()
            async with client.post("http://proxy/task", json=body, headers=AUTH) as resp:
                assert resp.status == 201
            assert lookups() == before

    asyncio.run(scenario())


def test_results_decrypted_for_the_container(tmp_path, keys):
    async def scenario():
        async with _proxy_world(tmp_path, keys, encrypted=True) as world:
            server, _api, proxy, client, ctx = world
            ours = crypto.Cryptor(keys[1]).public_key_str
            peer = crypto.Cryptor(keys[2])
            server.results = [
                {"id": 1, "result": peer.encrypt_bytes_to_str(b'{"n": 1}', ours)},
                {
                    "id": 2,
                    "result": peer.encrypt_bytes_to_str(
                        b'{"n": 2}', ours, scheme=crypto.SCHEME_GCM
                    ),
                },
                {"id": 3, "result": None},
            ]
            async with client.get("http://proxy/result?task_id=4", headers=AUTH) as resp:
                data = (await resp.json())["data"]
            assert [
                None if d["result"] is None else json.loads(base64.b64decode(d["result"]))
                for d in data
            ] == [{"n": 1}, {"n": 2}, None]

    asyncio.run(scenario())


def test_vantage6_format_result_refused_in_authenticated_collaboration(tmp_path, keys):
    """Downgrade protection: where the collaboration requires the authenticated format, a
    result in the vantage6 format reaches the container as an error, never as data."""

    async def scenario():
        async with _proxy_world(tmp_path, keys, encrypted=True, setting="authenticated") as world:
            server, _api, proxy, client, ctx = world
            ours = crypto.Cryptor(keys[1]).public_key_str
            peer = crypto.Cryptor(keys[2])
            gcm = peer.encrypt_bytes_to_str(b'{"n": 2}', ours, scheme=crypto.SCHEME_GCM)
            server.results = [{"id": 2, "result": gcm}]
            async with client.get("http://proxy/result?task_id=4", headers=AUTH) as resp:
                assert resp.status == 200
                (item,) = (await resp.json())["data"]
                assert json.loads(base64.b64decode(item["result"])) == {"n": 2}
            v6 = peer.encrypt_bytes_to_str(b'{"n": 1}', ours, scheme=crypto.SCHEME_V6)
            server.results = [{"id": 1, "result": v6}, {"id": 2, "result": gcm}]
            async with client.get("http://proxy/result?task_id=4", headers=AUTH) as resp:
                assert resp.status == 502
                assert "requires the authenticated format" in (await resp.json())["msg"]

    asyncio.run(scenario())


def test_expired_container_token_is_renewed(tmp_path, keys):
    async def scenario():
        async with _proxy_world(tmp_path, keys, encrypted=False) as world:
            server, _api, proxy, client, ctx = world
            server.valid_tokens = set()  # e.g. a server that forgot its tokens
            async with client.get("http://proxy/organization/1", headers=AUTH) as resp:
                assert resp.status == 200
            assert ctx.upstream_token == "renewed-token"
            assert ("POST", "/token/container") in {(m, p) for m, p, *_ in server.requests}
            # the container keeps using the token it has
            async with client.get("http://proxy/organization/1", headers=AUTH) as resp:
                assert resp.status == 200

    asyncio.run(scenario())


def test_requests_wait_for_a_server_that_is_away(tmp_path, keys):
    async def scenario():
        async with _proxy_world(tmp_path, keys, encrypted=False) as world:
            server, _api, proxy, client, ctx = world
            port = server.port
            await server.stop()
            request = asyncio.create_task(client.get("http://proxy/organization/1", headers=AUTH))
            await asyncio.sleep(1.0)
            assert not request.done()
            server.runner = None
            await server.start(port)
            resp = await asyncio.wait_for(request, 10)
            assert resp.status == 200
            resp.release()

    asyncio.run(scenario())


def test_status_of_unfinished_task_is_held_until_news(tmp_path, keys):
    async def scenario():
        async with _proxy_world(tmp_path, keys, encrypted=False) as world:
            server, _api, proxy, client, ctx = world
            loop = asyncio.get_running_loop()
            start = loop.time()
            request = asyncio.create_task(client.get("http://proxy/task/7/status", headers=AUTH))
            await asyncio.sleep(0.3)
            assert not request.done()
            server.task_status = "completed"
            proxy.board.bump()
            resp = await asyncio.wait_for(request, 5)
            assert (await resp.json())["status"] == "completed"
            assert loop.time() - start < 1.0
            # without news it answers after the hold time with the unfinished status
            server.task_status = "active"
            start = loop.time()
            async with client.get("http://proxy/task/7/status", headers=AUTH) as resp:
                assert (await resp.json())["status"] == "active"
            assert 2.5 < loop.time() - start < 5

    asyncio.run(scenario())


BLOB = bytes(range(256)) * 5000  # > 1 MiB, every byte value


def test_blobstream_upload_and_download_encrypted(tmp_path, keys):
    """Uploads are encrypted for X-Public-Key piece by piece, downloads decrypted for the
    container, in vantage6 4.14's byte format; hostile requests get a clear 4xx."""
    from vantage6_common import blob_crypto

    async def scenario():
        async with _proxy_world(tmp_path, keys, encrypted=True) as world:
            server, _api, _proxy, client, _ctx = world
            org2 = crypto.Cryptor(keys[2])
            url = "http://proxy/blobstream"
            async with client.post(url, data=BLOB, headers=AUTH) as resp:
                assert resp.status == 400
                assert "X-Public-Key" in (await resp.json())["msg"]
            bad = {**AUTH, "X-Public-Key": "bm90IGEga2V5"}
            async with client.post(url, data=BLOB, headers=bad) as resp:
                assert resp.status == 400
            assert not server.blobs
            good = {**AUTH, "X-Public-Key": org2.public_key_str}
            async with client.post(url, data=BLOB, headers=good) as resp:
                assert resp.status == 201, await resp.text()
                blob = (await resp.json())["uuid"]
            stored = server.blobs[blob]
            assert BLOB[:1000] not in stored
            plain = b"".join(blob_crypto.decrypt_chunks([stored], org2.private_key))
            assert plain == BLOB
            method, _path, token, headers = server.requests[-1]
            assert (method, token) == ("POST", "container-token")
            assert "X-Public-Key" not in headers
            # downloads: ours decrypts, another organization's is refused, ids are checked
            ours = crypto.Cryptor(keys[1]).public_key_str
            mine = str(uuid.uuid4())
            server.blobs[mine] = b"".join(blob_crypto.encrypt_chunks([BLOB], ours))
            async with client.get(f"{url}/{mine}", headers=AUTH) as resp:
                assert resp.status == 200
                assert resp.content_type == "application/octet-stream"
                assert await resp.read() == BLOB
            async with client.get(f"{url}/{blob}", headers=AUTH) as resp:
                assert resp.status == 502
                assert "could not be decrypted" in (await resp.json())["msg"]
            async with client.get(f"{url}/{uuid.uuid4()}", headers=AUTH) as resp:
                assert resp.status == 404
            async with client.get(f"{url}/../../etc", headers=AUTH) as resp:
                assert resp.status in (400, 403, 404)
            async with client.get(f"{url}/not-a-uuid", headers=AUTH) as resp:
                assert resp.status == 400

    asyncio.run(scenario())


def test_blobstream_plain_collaboration_is_base64(tmp_path, keys):
    async def scenario():
        async with _proxy_world(tmp_path, keys, encrypted=False) as world:
            server, _api, _proxy, client, _ctx = world
            async with client.post("http://proxy/blobstream", data=BLOB, headers=AUTH) as resp:
                assert resp.status == 201
                blob = (await resp.json())["uuid"]
            assert server.blobs[blob] == base64.b64encode(BLOB)
            async with client.get(f"http://proxy/blobstream/{blob}", headers=AUTH) as resp:
                assert await resp.read() == BLOB

    asyncio.run(scenario())


def test_blobstream_refused_in_an_authenticated_collaboration(tmp_path, keys):
    async def scenario():
        async with _proxy_world(tmp_path, keys, encrypted=True, setting="authenticated") as w:
            server, _api, _proxy, client, _ctx = w
            org2 = crypto.Cryptor(keys[2]).public_key_str
            headers = {**AUTH, "X-Public-Key": org2}
            async with client.post("http://proxy/blobstream", data=b"x", headers=headers) as r:
                assert r.status == 400
                assert "authenticated" in (await r.json())["msg"]
            assert not server.blobs

    asyncio.run(scenario())
