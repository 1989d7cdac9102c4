"""Streaming encoding of run inputs and results kept as blobs (``/blobstream``).

A blob is never held whole in memory: every function here takes and yields chunks.

The byte formats are vantage6 4.14's, so its published client, node and proxy read what we
write and we read what they write:

Encrypted collaboration
    ``b64(rsa_pkcs1v15(key)) "$" b64(iv) "$"`` followed by the *raw* AES-256-CTR ciphertext
    (no base64 around the body: the blob is not part of a JSON document). The header is ASCII;
    the wrapped key is as long as the recipient's RSA modulus.

Unencrypted collaboration
    The standard base64 text (with ``=`` padding) of the payload. vantage6 4.14's plain cryptor
    base64-encodes blobs as it does inline values, so we do the same.

The encrypted format has no integrity protection (it is the vantage6 4.x ``v6-ctr`` scheme of
:mod:`vantage6_common.crypto`, raw instead of base64).
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from vantage6_common.crypto import (
    AES_KEY_BYTES,
    CTR_IV_BYTES,
    DecryptionError,
    load_public_key_b64,
)

__all__ = [
    "CHUNK_SIZE",
    "MAX_HEADER_BYTES",
    "BlobTooLarge",
    "BlobCodec",
    "Encrypter",
    "Decrypter",
    "Base64Encoder",
    "Base64Decoder",
    "encoder",
    "decoder",
    "transform",
    "encrypt_chunks",
    "decrypt_chunks",
    "base64_encode_chunks",
    "base64_decode_chunks",
    "encode_chunks",
    "decode_chunks",
    "read_chunks",
    "write_chunks",
]

#: Size of the pieces read from files and sent over HTTP (vantage6 4.14 uses 1 MiB too).
CHUNK_SIZE = 1024 * 1024
#: Longest header accepted when decrypting: a 16384-bit wrapped key in base64 plus the IV.
MAX_HEADER_BYTES = 4096

_SEPARATOR = b"$"
_WHITESPACE = b" \t\r\n"


class BlobTooLarge(ValueError):
    """More bytes were written than the caller allows."""


# --------------------------------------------------------------------------------------------
# codecs: push one chunk at a time (usable from sync and async code alike)
# --------------------------------------------------------------------------------------------
class BlobCodec(Protocol):
    """Turns a stream into another, one chunk at a time."""

    def update(self, chunk: bytes) -> bytes:
        """The output for ``chunk`` (may be empty)."""

    def finish(self) -> bytes:
        """What is left at the end; raises if the stream was incomplete."""


class Encrypter:
    """Encrypts for the owner of ``public_key_b64`` (base64 of PEM); the header comes first.

    A bad public key raises ``ValueError`` here, before any output.
    """

    def __init__(self, public_key_b64: str) -> None:
        public_key = load_public_key_b64(public_key_b64)
        key = os.urandom(AES_KEY_BYTES)
        iv = os.urandom(CTR_IV_BYTES)
        wrapped = public_key.encrypt(key, padding.PKCS1v15())
        self._header = base64.b64encode(wrapped) + _SEPARATOR + base64.b64encode(iv) + _SEPARATOR
        self._cipher = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()

    def update(self, chunk: bytes) -> bytes:
        out = self._cipher.update(chunk)
        if self._header:
            out, self._header = self._header + out, b""
        return out

    def finish(self) -> bytes:
        return self.update(b"") + self._cipher.finalize()


class Decrypter:
    """Decrypts what :class:`Encrypter` (or vantage6 4.14) wrote for ``private_key``.

    Raises :class:`~vantage6_common.crypto.DecryptionError` for a malformed header or a key
    that was not wrapped for ``private_key``. The body cannot be checked (CTR mode).
    """

    def __init__(self, private_key: rsa.RSAPrivateKey) -> None:
        self._private_key = private_key
        self._pending = b""
        self._cipher: Any = None

    def update(self, chunk: bytes) -> bytes:
        if self._cipher is not None:
            return bytes(self._cipher.update(chunk))
        self._pending += chunk
        first = self._pending.find(_SEPARATOR)
        second = self._pending.find(_SEPARATOR, first + 1) if first >= 0 else -1
        if second < 0 or second + 1 > MAX_HEADER_BYTES:
            if second >= 0 or len(self._pending) > MAX_HEADER_BYTES:
                raise DecryptionError(
                    f"The encrypted blob has no key$iv$ header in its first "
                    f"{MAX_HEADER_BYTES} bytes"
                )
            return b""
        header, rest = self._pending[: second + 1], self._pending[second + 1 :]
        self._pending = b""
        key, iv = _parse_header(header, self._private_key)
        self._cipher = Cipher(algorithms.AES(key), modes.CTR(iv)).decryptor()
        return bytes(self._cipher.update(rest))

    def finish(self) -> bytes:
        if self._cipher is None:
            raise DecryptionError(
                "The encrypted blob ended before its header (key$iv$) was complete"
            )
        return bytes(self._cipher.finalize())


def _parse_header(header: bytes, private_key: rsa.RSAPrivateKey) -> tuple[bytes, bytes]:
    wrapped_b64, iv_b64, _ = header.split(_SEPARATOR, 2)
    try:
        wrapped = base64.b64decode(wrapped_b64, validate=True)
        iv = base64.b64decode(iv_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DecryptionError("The encrypted blob's header is not base64") from exc
    if len(iv) != CTR_IV_BYTES:
        raise DecryptionError("The encrypted blob's header has an IV of the wrong length")
    # (OpenSSL's implicit rejection answers a wrong key with random bytes rather than an error,
    # which then almost always have the wrong length)
    refused = DecryptionError(
        "Could not decrypt the blob's key (encrypted for another organization?)"
    )
    try:
        key = private_key.decrypt(wrapped, padding.PKCS1v15())
    except ValueError as exc:
        raise refused from exc
    if len(key) != AES_KEY_BYTES:
        # The vantage6 web UI base64-encodes the AES key before wrapping it.
        try:
            key = base64.b64decode(key, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise refused from exc
        if len(key) != AES_KEY_BYTES:
            raise refused
    return key, iv


class Base64Encoder:
    """Base64 text of the whole stream (identical to encoding it at once)."""

    def __init__(self) -> None:
        self._carry = b""

    def update(self, chunk: bytes) -> bytes:
        data = self._carry + chunk if self._carry else chunk
        cut = len(data) - len(data) % 3
        self._carry = data[cut:]
        return base64.b64encode(data[:cut]) if cut else b""

    def finish(self) -> bytes:
        carry, self._carry = self._carry, b""
        return base64.b64encode(carry)


class Base64Decoder:
    """Decodes base64 text given in arbitrary pieces; whitespace is ignored.

    Raises :class:`~vantage6_common.crypto.DecryptionError` for anything that is not strict
    base64 (including data after the ``=`` padding or a length that is not a multiple of 4).
    """

    def __init__(self) -> None:
        self._carry = b""
        self._finished = False

    def update(self, chunk: bytes) -> bytes:
        data = self._carry + chunk.translate(None, _WHITESPACE)
        cut = len(data) - len(data) % 4
        self._carry = data[cut:]
        if not cut:
            return b""
        if self._finished:
            raise DecryptionError("The blob has base64 data after its padding")
        self._finished = data[cut - 1 : cut] == b"="
        try:
            return base64.b64decode(data[:cut], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise DecryptionError("The blob is not valid base64") from exc

    def finish(self) -> bytes:
        if self._carry:
            if self._finished:
                raise DecryptionError("The blob has base64 data after its padding")
            raise DecryptionError("The blob is not base64: its length is not a multiple of 4")
        return b""


def encoder(public_key_b64: str | None) -> BlobCodec:
    """What turns a payload into its blob: encrypted for ``public_key_b64``, or base64 (None)."""
    return Base64Encoder() if public_key_b64 is None else Encrypter(public_key_b64)


def decoder(private_key: rsa.RSAPrivateKey | None) -> BlobCodec:
    """What turns a blob into its payload: decrypted with ``private_key``, or base64 (None)."""
    return Base64Decoder() if private_key is None else Decrypter(private_key)


def transform(chunks: Iterable[bytes], codec: BlobCodec) -> Iterator[bytes]:
    """``chunks`` passed through ``codec`` (empty pieces left out)."""
    for chunk in chunks:
        out = codec.update(chunk)
        if out:
            yield out
    tail = codec.finish()
    if tail:
        yield tail


async def atransform(
    chunks: AsyncIterable[bytes] | Iterable[bytes], codec: BlobCodec
) -> AsyncIterator[bytes]:
    """:func:`transform` as an async iterator (an async HTTP client's streamed body), from
    chunks that arrive asynchronously (a request being received) or are read in place."""
    if not isinstance(chunks, AsyncIterable):
        for out in transform(chunks, codec):
            yield out
        return
    async for chunk in chunks:
        out = codec.update(chunk)
        if out:
            yield out
    tail = codec.finish()
    if tail:
        yield tail


# --------------------------------------------------------------------------------------------
# iterators
# --------------------------------------------------------------------------------------------
def encrypt_chunks(chunks: Iterable[bytes], public_key_b64: str) -> Iterator[bytes]:
    """Encrypt a stream for the owner of ``public_key_b64``; the header is yielded first."""
    codec = Encrypter(public_key_b64)
    header = codec.update(b"")
    yield header
    yield from transform(chunks, codec)


def decrypt_chunks(chunks: Iterable[bytes], private_key: rsa.RSAPrivateKey) -> Iterator[bytes]:
    """Decrypt a stream written by :func:`encrypt_chunks` (or by vantage6 4.14)."""
    return transform(chunks, Decrypter(private_key))


def base64_encode_chunks(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Base64 text of the concatenated chunks, yielded piecewise."""
    return transform(chunks, Base64Encoder())


def base64_decode_chunks(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Decode base64 text given in arbitrary pieces (see :class:`Base64Decoder`)."""
    return transform(chunks, Base64Decoder())


def encode_chunks(chunks: Iterable[bytes], public_key_b64: str | None) -> Iterator[bytes]:
    """What to upload: encrypted for ``public_key_b64``, or base64 when it is None."""
    if public_key_b64 is None:
        return base64_encode_chunks(chunks)
    return encrypt_chunks(chunks, public_key_b64)


def decode_chunks(
    chunks: Iterable[bytes], private_key: rsa.RSAPrivateKey | None
) -> Iterator[bytes]:
    """What was downloaded, decoded: decrypted with ``private_key``, or base64 when None."""
    return transform(chunks, decoder(private_key))


# --------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------
def read_chunks(
    source: str | os.PathLike[str] | BinaryIO, size: int = CHUNK_SIZE
) -> Iterator[bytes]:
    """Chunks of a file (a path, opened and closed here, or an open binary file)."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as fp:
            yield from read_chunks(fp, size)
        return
    while True:
        chunk = source.read(size)
        if not chunk:
            return
        yield chunk


def write_chunks(
    chunks: Iterable[bytes], target: str | os.PathLike[str], max_bytes: int | None = None
) -> int:
    """Write chunks to a new file (mode 0600); returns the number of bytes written.

    The file is written under a temporary name next to ``target`` and renamed when complete,
    so a failure (including :class:`BlobTooLarge` past ``max_bytes``) leaves no partial file.
    """
    target = Path(target)
    partial = target.with_name(f".{target.name}.partial")
    written = 0
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as fp:
            for chunk in chunks:
                written += len(chunk)
                if max_bytes is not None and written > max_bytes:
                    raise BlobTooLarge(f"The blob is larger than the allowed {max_bytes} bytes")
                fp.write(chunk)
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return written
