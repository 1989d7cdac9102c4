"""The node's blob transfers (vantage6_node/blobs.py) against a fake server: all or nothing."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import pytest

from tests.node.test_proxy import FakeServer, node_tokens
from vantage6_common import blob_crypto, crypto
from vantage6_common.blob_crypto import BlobTooLarge
from vantage6_common.crypto import DecryptionError
from vantage6_node.blobs import Blobs, blob_id
from vantage6_node.server_api import ServerAPI, ServerError, ServerUnavailable

DATA = bytes(range(256)) * 9000


@pytest.fixture(scope="module")
def key():
    return crypto.generate_private_key(2048)


@contextlib.asynccontextmanager
async def world():
    server = FakeServer({})
    await server.start()
    api = ServerAPI(f"http://127.0.0.1:{server.port}/api", node_tokens())
    try:
        yield server, Blobs(api)
    finally:
        await api.close()
        await server.stop()


@contextlib.contextmanager
def chunks_of(data: bytes):
    yield iter([data[i : i + 65536] for i in range(0, len(data), 65536)])


def test_round_trip_encrypted_and_plain(tmp_path, key):
    async def scenario():
        async with world() as (server, blobs):
            public = crypto.public_key_to_b64(key)
            for private, public_b64 in ((key, public), (None, None)):
                ref = await blobs.upload(lambda: chunks_of(DATA), public_b64)
                assert ref in server.blobs and DATA[:100] not in server.blobs[ref]
                target = tmp_path / f"in-{ref}"
                assert await blobs.download(ref, target, private, len(DATA)) == len(DATA)
                assert target.read_bytes() == DATA
                assert oct(target.stat().st_mode & 0o777) == "0o600"
            method, path, token, headers = server.requests[0]
            assert (method, path, token) == ("POST", "/api/blobstream", "node-token")
            assert headers.get("Transfer-Encoding") == "chunked"

    asyncio.run(scenario())


def test_failed_downloads_leave_no_file(tmp_path, key):
    async def scenario():
        async with world() as (server, blobs):
            other = crypto.public_key_to_b64(crypto.generate_private_key(2048))
            foreign = str(uuid.uuid4())
            server.blobs[foreign] = b"".join(blob_crypto.encrypt_chunks([DATA], other))
            garbage = str(uuid.uuid4())
            server.blobs[garbage] = b"no header at all!" * 1000
            mine = str(uuid.uuid4())
            public = crypto.public_key_to_b64(key)
            server.blobs[mine] = b"".join(blob_crypto.encrypt_chunks([DATA], public))
            target = tmp_path / "input"
            for ref, private, limit, error in (
                (foreign, key, len(DATA), DecryptionError),
                (garbage, key, len(DATA), DecryptionError),
                (mine, key, len(DATA) - 1, BlobTooLarge),
                (garbage, None, len(DATA) * 2, DecryptionError),
                (str(uuid.uuid4()), key, len(DATA), ServerError),
            ):
                with pytest.raises(error):
                    await blobs.download(ref, target, private, limit)
                assert list(tmp_path.iterdir()) == [], ref
            await server.stop()
            with pytest.raises(ServerUnavailable):
                await blobs.download(mine, target, key, len(DATA))
            assert list(tmp_path.iterdir()) == []

    asyncio.run(scenario())


def test_blob_ids_are_checked():
    ref = str(uuid.uuid4())
    assert blob_id(f'"{ref}"') == ref and blob_id(ref.upper()) == ref
    for bad in ("", "../../etc/passwd", "not-a-uuid", None, 42):
        with pytest.raises(ValueError):
            blob_id(bad)
