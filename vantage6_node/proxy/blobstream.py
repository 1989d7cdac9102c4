"""The proxy's ``/blobstream`` routes: a container's large inputs and results, streamed.

``POST /blobstream``: the container sends plaintext with ``X-Public-Key`` (base64 of the
receiving organization's public key; required in an encrypted collaboration); the proxy
encrypts it piece by piece for that key (base64 in an unencrypted collaboration, as vantage6
4.14) and streams it on to the server. ``GET /blobstream/<uuid>``: the proxy streams the blob
from the server and decrypts it on the way, so the container receives plaintext. Neither
holds a blob in memory. Towards the server only ``Authorization`` (the run's token) and
``Content-Type`` are sent; the length of an encoded upload is not the container's.
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

import httpx
from aiohttp import web

from vantage6_common.blob_crypto import (
    CHUNK_SIZE,
    BlobCodec,
    Encrypter,
    atransform,
    decoder,
    encoder,
)
from vantage6_common.crypto import DecryptionError
from vantage6_common.http import message_of
from vantage6_common.scheme_policy import DowngradeRefused
from vantage6_node.blobs import MAX_ERROR_BODY, OCTET_STREAM, TRANSFER_TIMEOUT, blob_id
from vantage6_node.encryption import NodeEncryption
from vantage6_node.server_api import UNREACHABLE, ServerAPI

log = logging.getLogger(__name__)

PUBLIC_KEY_HEADER = "X-Public-Key"
#: headers of the server's download answer handed to the container
PASSED_DOWNLOAD_HEADERS = ("content-disposition",)
_TIMEOUT = httpx.Timeout(TRANSFER_TIMEOUT, connect=30.0)


def _error(status: int, msg: str) -> web.Response:
    return web.json_response({"msg": msg}, status=status)


class BlobStreams:
    """Streams blobs between a run's container and the server."""

    def __init__(self, api: ServerAPI, encryption: NodeEncryption) -> None:
        self.api = api
        self.encryption = encryption

    def _upload_codec(self, request: web.Request) -> BlobCodec | web.Response:
        public_key = request.headers.get(PUBLIC_KEY_HEADER, "").strip()
        if not self.encryption.encrypted:
            return encoder(None)
        if not public_key:
            return _error(400, f"Missing {PUBLIC_KEY_HEADER} header")
        try:
            self.encryption.check_blob_format()
            return Encrypter(public_key)
        except DowngradeRefused as exc:
            return _error(400, str(exc))
        except ValueError:
            return _error(400, f"{PUBLIC_KEY_HEADER} is not a base64 PEM public key")

    async def upload(self, request: web.Request, token: str) -> web.Response:
        """``POST /blobstream`` for a container."""
        codec = self._upload_codec(request)
        if isinstance(codec, web.Response):
            return codec
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": request.headers.get("Content-Type", OCTET_STREAM),
        }
        body = atransform(request.content.iter_chunked(CHUNK_SIZE), codec)
        try:
            resp = await self.api.client.post(
                self.api.url("blobstream"), content=body, headers=headers, timeout=_TIMEOUT
            )
        except UNREACHABLE as exc:
            return _error(503, f"the server is unreachable: {exc.__class__.__name__}")
        finally:
            await body.aclose()
        return _relay(resp.status_code, resp.content)

    async def download(self, request: web.Request, raw_id: str, token: str) -> web.StreamResponse:
        """``GET /blobstream/<uuid>`` for a container: the blob, decrypted."""
        try:
            blob = blob_id(raw_id)
            key = self.encryption.blob_private_key()
        except DowngradeRefused as exc:
            return _error(400, str(exc))
        except ValueError as exc:
            return _error(400, str(exc))
        headers = {"Authorization": f"Bearer {token}"}
        try:
            async with self.api.client.stream(
                "GET", self.api.url(f"blobstream/{blob}"), headers=headers, timeout=_TIMEOUT
            ) as resp:
                if resp.status_code != 200:
                    return _relay(resp.status_code, await _small_body(resp))
                return await self._decrypt_to(request, resp, decoder(key), blob)
        except UNREACHABLE as exc:
            return _error(503, f"the server is unreachable: {exc.__class__.__name__}")

    async def _decrypt_to(
        self, request: web.Request, resp: httpx.Response, codec: BlobCodec, blob: str
    ) -> web.StreamResponse:
        out = web.StreamResponse(status=200)
        out.content_type = OCTET_STREAM
        for name, value in resp.headers.items():
            if name.lower() in PASSED_DOWNLOAD_HEADERS:
                out.headers[name] = value
        started = False
        try:
            async for chunk in resp.aiter_bytes(CHUNK_SIZE):
                plain = codec.update(chunk)
                if plain:
                    if not started:
                        await out.prepare(request)
                        started = True
                    await out.write(plain)
            tail = codec.finish()
        except DecryptionError as exc:
            log.warning("blob %s could not be decrypted: %s", blob, exc)
            if not started:
                return _error(502, f"the blob could not be decrypted: {exc}")
            raise  # the container sees a cut-off answer, never wrong data as complete
        if not started:
            await out.prepare(request)
        if tail:
            await out.write(tail)
        await out.write_eof()
        return out


async def _small_body(resp: httpx.Response) -> bytes:
    body = b""
    async for piece in resp.aiter_bytes():
        body += piece
        if len(body) >= MAX_ERROR_BODY:
            break
    return body[:MAX_ERROR_BODY]


def _relay(status: int, body: bytes) -> web.Response:
    """The server's (small, JSON) answer for the container."""
    data: Any = None
    with contextlib.suppress(ValueError):
        data = json.loads(body) if body else None
    if isinstance(data, dict | list):
        return web.json_response(data, status=status)
    return _error(status, message_of(body.decode("utf-8", "replace")) or f"HTTP {status}")
