"""Large task inputs and results kept as blobs (``/blobstream``, as vantage6 4.14 speaks it).

When ``GET /blobstream/status`` says the store is enabled, each organization's task input is
uploaded as a blob (chunked, encrypted for the organization in an encrypted collaboration,
base64 text otherwise: 4.14's byte formats, see :mod:`vantage6_common.blob_crypto`) and the
task refers to it by uuid. Runs with ``blob_storage_used`` hold a uuid in ``input`` and
``result``; the data is fetched only when asked for, as a stream.
"""

from __future__ import annotations

import logging
import uuid as uuidlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from vantage6_client.encryption import EncryptionSupport, decode_payload
from vantage6_client.exceptions import EncryptionError, ServerConnectionError, V6ClientError
from vantage6_client.session import ClientSession
from vantage6_client.transport import connection_reason
from vantage6_common import blob_crypto, crypto, serialization

log = logging.getLogger("vantage6_client")

OCTET_STREAM = "application/octet-stream"
#: How much of a blob is looked at to tell an encrypted one (``key$iv$`` header) from base64.
_SNIFF_BYTES = blob_crypto.MAX_HEADER_BYTES


def blob_reference(value: Any) -> str:
    """The uuid a run's ``input``/``result`` holds (4.14 may quote it); ValueError if none."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    text = text.strip().strip("'\"")
    try:
        return str(uuidlib.UUID(text))
    except ValueError:
        raise ValueError(f"not a blob reference (a uuid): {text[:60]!r}") from None


def pieces(data: bytes, size: int = blob_crypto.CHUNK_SIZE) -> Iterator[bytes]:
    """``data`` in chunks of ``size`` bytes (views, no copies of the whole)."""
    view = memoryview(data)
    for start in range(0, len(view), size):
        yield bytes(view[start : start + size])


def file_pieces(path: Path, size: int = blob_crypto.CHUNK_SIZE) -> Iterator[bytes]:
    """The bytes of the file at ``path`` in chunks of ``size`` bytes."""
    with path.open("rb") as fp:
        while chunk := fp.read(size):
            yield chunk


def _sniff(chunks: Iterator[bytes]) -> tuple[bytes, Iterator[bytes]]:
    """The first bytes of a stream (up to the header size) and the stream from its start."""
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= _SNIFF_BYTES:
            break

    def rest() -> Iterator[bytes]:
        if head:
            yield head
        yield from chunks

    return head, rest()


class BlobSupport:
    """Uploads and downloads of blobs for one client."""

    def __init__(self, client: ClientSession, encryption: EncryptionSupport) -> None:
        self._client = client
        self._crypto = encryption

    # -- the server's side ------------------------------------------------------------------
    def enabled(self) -> bool:
        """Whether the server keeps inputs and results as blobs (asked every time, like 4.14:
        an administrator may switch the store on or off). Any error answer counts as no."""
        try:
            status = self._client.transport.request("GET", "blobstream/status")
        except V6ClientError as exc:
            log.warning("cannot tell whether the server has a blob store (%s); assuming not", exc)
            return False
        return isinstance(status, dict) and status.get("blob_store_enabled") is True

    def upload(self, chunks: Iterable[bytes]) -> str:
        """Stream ``chunks`` to ``POST /blobstream`` (chunked); return the blob's uuid."""
        transport = self._client.transport
        url = transport.url_for("blobstream")
        headers = {**self._authorization(), "Content-Type": OCTET_STREAM}
        try:
            response = transport.client.post(url, content=iter(chunks), headers=headers, auth=None)
        except httpx.HTTPError as exc:
            raise ServerConnectionError(url, connection_reason(exc)) from exc
        if response.status_code >= 400:
            raise transport._error("POST", "blobstream", response)
        body = response.json() if response.content else None
        blob_id = body.get("uuid") if isinstance(body, dict) else None
        if not isinstance(blob_id, str) or not blob_id:
            raise V6ClientError("the server did not answer the upload with a blob uuid")
        log.debug("uploaded blob %s", blob_id)
        return blob_id

    @contextmanager
    def open(self, reference: Any) -> Iterator[Iterator[bytes]]:
        """The raw (still encoded) chunks of the blob ``reference`` names, streamed."""
        try:
            blob_id = blob_reference(reference)
        except ValueError as exc:  # asked for nothing: a hostile or broken reference
            raise V6ClientError(str(exc)) from None
        transport = self._client.transport
        url = transport.url_for(f"blobstream/{blob_id}")
        try:
            with transport.client.stream(
                "GET", url, headers=self._authorization(), auth=None
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise transport._error("GET", f"blobstream/{blob_id}", response)
                yield response.iter_bytes(blob_crypto.CHUNK_SIZE)
        except httpx.HTTPError as exc:
            raise ServerConnectionError(url, connection_reason(exc)) from exc

    def _authorization(self) -> dict[str, str]:
        """The header for a streamed request. It bypasses the transport's token handling,
        which reads whole answers and would send a request again after a 401 (a streamed
        body cannot be sent twice); the token is renewed first when it is about to expire."""
        return {"Authorization": f"Bearer {self._client.transport.current_token()}"}

    # -- encoding ---------------------------------------------------------------------------
    def upload_inputs(
        self, value: Any, organization_ids: list[int], collaboration_id: int
    ) -> list[dict[str, Any]]:
        """``[{"id": org, "input": uuid}]``: the input uploaded once per organization,
        encrypted for it in an encrypted collaboration."""
        data = serialization.dumps_bytes(value)
        return self._upload_each(lambda: pieces(data), organization_ids, collaboration_id)

    def upload_input_file(
        self, path: str | Path, organization_ids: list[int], collaboration_id: int
    ) -> list[dict[str, Any]]:
        """Like :meth:`upload_inputs` for an input already serialized in the file ``path``
        (the bytes the algorithm reads as its input): read once per organization, one chunk
        at a time, so the input never has to fit in memory."""
        source = Path(path)
        if not source.is_file():
            raise V6ClientError(f"input file {str(source)!r} does not exist or is no file")
        if not self.enabled():
            raise V6ClientError(
                "a task input from a file needs the server's blob store, and this server has "
                "none: give the input as input_ instead (it must then fit in one request)"
            )
        return self._upload_each(lambda: file_pieces(source), organization_ids, collaboration_id)

    def _upload_each(
        self,
        plain: Callable[[], Iterator[bytes]],
        organization_ids: list[int],
        collaboration_id: int,
    ) -> list[dict[str, Any]]:
        """Upload the chunks ``plain()`` yields once per organization (encoded for it)."""
        if self._crypto.collaboration_encrypted(collaboration_id):
            policy = self._crypto.policy(collaboration_id)
            if crypto.SCHEME_V6 not in policy.accepted:
                raise EncryptionError(
                    f"collaboration {collaboration_id} requires the authenticated format, but "
                    "blobs exist only in the vantage6 format: the server's blob store cannot "
                    "be used for it"
                )
        out: list[dict[str, Any]] = []
        for org_id in organization_ids:
            public_key = self._crypto.recipient_key(org_id, collaboration_id)
            try:
                blob_id = self.upload(blob_crypto.encode_chunks(plain(), public_key))
            except ValueError as exc:  # a public key that cannot be used
                raise EncryptionError(f"cannot encrypt for organization {org_id}: {exc}") from exc
            out.append({"id": org_id, "input": blob_id})
        return out

    def decoded(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        """Plain bytes of a downloaded blob: decrypted when it has a ``key$iv$`` header
        (base64 never contains ``$``), base64-decoded otherwise."""
        head, stream = _sniff(chunks)
        if b"$" not in head:
            return blob_crypto.decode_chunks(stream, None)
        cryptor = self._crypto.cryptor
        if not isinstance(cryptor, crypto.Cryptor):
            raise EncryptionError(
                "this data is encrypted: call setup_encryption(<private key file>) first"
            )
        return blob_crypto.decode_chunks(stream, cryptor.private_key)

    def load(self, reference: Any) -> Any:
        """The JSON-decoded value of a blob (as inline values are decoded)."""
        with self.open(reference) as chunks:
            raw = b"".join(self._checked(self.decoded(chunks)))
        return decode_payload(raw)

    def save(self, reference: Any, path: str | Path) -> int:
        """Stream a blob's plain bytes into a new file at ``path``; returns its size. Holds
        one chunk at a time; a failure leaves no file behind."""
        with self.open(reference) as chunks:
            return blob_crypto.write_chunks(self._checked(self.decoded(chunks)), path)

    @staticmethod
    def _checked(chunks: Iterator[bytes]) -> Iterator[bytes]:
        try:
            yield from chunks
        except crypto.DecryptionError as exc:
            raise EncryptionError(str(exc)) from exc
