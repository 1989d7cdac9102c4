"""Run inputs and results kept as blobs in the server's store (``/blobstream``), streamed.

A blob never sits whole in the node's memory: a download goes piece by piece through its
decoder into a file, an upload piece by piece from a file through its encoder onto the wire
(``Transfer-Encoding: chunked``). The byte formats are vantage6 4.14's
(:mod:`vantage6_common.blob_crypto`).

The node's usual token flow (:class:`~vantage6_common.http.TokenAuth`) reads every answer
whole, so these requests carry the token themselves and renew it once on a ``401``.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from vantage6_common.blob_crypto import CHUNK_SIZE, BlobTooLarge, atransform, decoder, encoder
from vantage6_common.http import TokenRefused, message_of
from vantage6_node.server_api import (
    UNAVAILABLE_STATUSES,
    UNREACHABLE,
    ServerAPI,
    ServerError,
    ServerUnavailable,
    refused_error,
)

#: seconds without progress after which a transfer is given up (then retried by the caller)
TRANSFER_TIMEOUT = 300.0
#: longest error answer read from the server
MAX_ERROR_BODY = 64 * 1024
OCTET_STREAM = "application/octet-stream"

ChunkSource = Callable[[], AbstractContextManager[Iterator[bytes]]]


def blob_id(value: Any) -> str:
    """The blob id in a run's ``input`` or ``result`` (it may arrive quoted); ``ValueError``
    when it is not a UUID."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        raise ValueError("the run's blob reference is not a string")
    text = value.strip().strip("'\"")
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise ValueError(f"the run's blob reference is not a UUID: {text[:60]!r}") from None


class Blobs:
    """Streams blobs to and from the server as the node."""

    def __init__(self, api: ServerAPI, timeout: float = TRANSFER_TIMEOUT) -> None:
        self.api = api
        self.timeout = httpx.Timeout(timeout, connect=min(timeout, 30.0))

    async def _headers(self, force: bool = False) -> dict[str, str]:
        headers = {"Content-Type": OCTET_STREAM}
        if self.api.auth is not None:
            try:
                token = await self.api.auth.atoken(self.api.client, force=force)
            except TokenRefused as exc:
                raise refused_error(exc) from exc
            except UNREACHABLE as exc:
                raise ServerUnavailable(f"token renewal: {exc}") from exc
            if token:
                headers["Authorization"] = f"Bearer {token}"
        return headers

    async def download(
        self,
        blob: str,
        target: Path,
        private_key: rsa.RSAPrivateKey | None,
        max_bytes: int,
    ) -> int:
        """Decode blob ``blob`` into the new file ``target`` (0600); returns its size.

        Nothing is left at ``target`` unless the whole blob arrived and decoded. Raises
        :class:`ServerUnavailable` (try again later), :class:`ServerError` (refused),
        :class:`~vantage6_common.crypto.DecryptionError` or :class:`BlobTooLarge`.
        """
        url = self.api.url(f"blobstream/{blob}")
        for attempt in (1, 2):
            headers = await self._headers(force=attempt == 2)
            try:
                async with self.api.client.stream(
                    "GET", url, headers=headers, timeout=self.timeout
                ) as resp:
                    if resp.status_code == 401 and attempt == 1 and self.api.auth is not None:
                        continue
                    await _check(resp, f"GET blobstream/{blob}")
                    return await _save(resp.aiter_bytes(CHUNK_SIZE), target, private_key, max_bytes)
            except UNREACHABLE as exc:
                raise ServerUnavailable(f"GET blobstream/{blob}: {exc!r}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def upload(self, source: ChunkSource, public_key_b64: str | None) -> str:
        """Upload what ``source()`` yields, encoded (encrypted for ``public_key_b64``, or
        base64 when None); returns the blob's id.

        ``source`` is called for every attempt (a renewed token means a second one). Errors
        raised while reading it (e.g. an unsafe output file) come out unchanged.
        """
        for attempt in (1, 2):
            headers = await self._headers(force=attempt == 2)
            with source() as chunks:
                body = atransform(chunks, encoder(public_key_b64))
                try:
                    resp = await self.api.client.post(
                        self.api.url("blobstream"),
                        content=body,
                        headers=headers,
                        timeout=self.timeout,
                    )
                except UNREACHABLE as exc:
                    raise ServerUnavailable(f"POST blobstream: {exc!r}") from exc
                finally:
                    await body.aclose()
            if resp.status_code == 401 and attempt == 1 and self.api.auth is not None:
                continue
            await _check(resp, "POST blobstream")
            data = resp.json() if resp.content else None
            uploaded = data.get("uuid") if isinstance(data, dict) else None
            if not isinstance(uploaded, str):
                raise ServerError(resp.status_code, "the server answered no blob id", data)
            return blob_id(uploaded)
        raise AssertionError("unreachable")  # pragma: no cover


async def _check(resp: httpx.Response, what: str) -> None:
    """Raise for an answer that is not a success (reading at most a small error body)."""
    if 200 <= resp.status_code < 300:
        return
    if resp.status_code in UNAVAILABLE_STATUSES:
        raise ServerUnavailable(f"{what}: HTTP {resp.status_code}")
    body = b""
    async for piece in resp.aiter_bytes():
        body += piece
        if len(body) >= MAX_ERROR_BODY:
            break
    data: Any = body.decode("utf-8", "replace")
    with contextlib.suppress(ValueError):
        data = json.loads(body)
    raise ServerError(resp.status_code, message_of(data), data)


async def _save(
    chunks: AsyncIterator[bytes],
    target: Path,
    private_key: rsa.RSAPrivateKey | None,
    max_bytes: int,
) -> int:
    codec = decoder(private_key)
    partial = target.with_name(f".{target.name}.partial")
    written = 0
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as fp:
            async for chunk in chunks:
                out = codec.update(chunk)
                written += len(out)
                if written > max_bytes:
                    raise BlobTooLarge(f"the blob is larger than the limit of {max_bytes} bytes")
                fp.write(out)
            out = codec.finish()
            written += len(out)
            if written > max_bytes:
                raise BlobTooLarge(f"the blob is larger than the limit of {max_bytes} bytes")
            fp.write(out)
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return written
