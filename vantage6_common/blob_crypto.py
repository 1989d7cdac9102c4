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
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

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
# encrypted collaborations
# --------------------------------------------------------------------------------------------
def encrypt_chunks(chunks: Iterable[bytes], public_key_b64: str) -> Iterator[bytes]:
    """Encrypt a stream for the owner of ``public_key_b64`` (base64 of PEM).

    Yields the header first, then one ciphertext chunk per input chunk. The public key is
    parsed before anything is yielded, so a bad key raises ``ValueError`` at the first ``next``.
    """
    public_key = load_public_key_b64(public_key_b64)
    key = os.urandom(AES_KEY_BYTES)
    iv = os.urandom(CTR_IV_BYTES)
    wrapped = public_key.encrypt(key, padding.PKCS1v15())
    yield base64.b64encode(wrapped) + _SEPARATOR + base64.b64encode(iv) + _SEPARATOR
    encryptor = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    for chunk in chunks:
        if chunk:
            yield encryptor.update(chunk)
    tail = encryptor.finalize()
    if tail:
        yield tail


def decrypt_chunks(chunks: Iterable[bytes], private_key: rsa.RSAPrivateKey) -> Iterator[bytes]:
    """Decrypt a stream written by :func:`encrypt_chunks` (or by vantage6 4.14).

    Raises :class:`~vantage6_common.crypto.DecryptionError` for a malformed header or a key
    that was not wrapped for ``private_key``. The body cannot be checked (CTR mode).
    """
    source = iter(chunks)
    header, rest = _read_header(source)
    key, iv = _parse_header(header, private_key)
    decryptor = Cipher(algorithms.AES(key), modes.CTR(iv)).decryptor()
    if rest:
        yield decryptor.update(rest)
    for chunk in source:
        if chunk:
            yield decryptor.update(chunk)
    tail = decryptor.finalize()
    if tail:
        yield tail


def _read_header(source: Iterator[bytes]) -> tuple[bytes, bytes]:
    """Collect bytes up to and including the second ``$``; returns (header, what follows)."""
    buffer = b""
    for chunk in source:
        buffer += chunk
        first = buffer.find(_SEPARATOR)
        second = buffer.find(_SEPARATOR, first + 1) if first >= 0 else -1
        if second >= 0:
            if second + 1 > MAX_HEADER_BYTES:
                break
            return buffer[: second + 1], buffer[second + 1 :]
        if len(buffer) > MAX_HEADER_BYTES:
            break
    else:
        raise DecryptionError("The encrypted blob ended before its header (key$iv$) was complete")
    raise DecryptionError(
        f"The encrypted blob has no key$iv$ header in its first {MAX_HEADER_BYTES} bytes"
    )


def _parse_header(header: bytes, private_key: rsa.RSAPrivateKey) -> tuple[bytes, bytes]:
    wrapped_b64, iv_b64, _ = header.split(_SEPARATOR, 2)
    try:
        wrapped = base64.b64decode(wrapped_b64, validate=True)
        iv = base64.b64decode(iv_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DecryptionError("The encrypted blob's header is not base64") from exc
    if len(iv) != CTR_IV_BYTES:
        raise DecryptionError("The encrypted blob's header has an IV of the wrong length")
    try:
        key = private_key.decrypt(wrapped, padding.PKCS1v15())
    except ValueError as exc:
        raise DecryptionError(
            "Could not decrypt the blob's key (encrypted for another organization?)"
        ) from exc
    if len(key) != AES_KEY_BYTES:
        # The vantage6 web UI base64-encodes the AES key before wrapping it.
        try:
            key = base64.b64decode(key, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise DecryptionError("The blob's key has the wrong length") from exc
        if len(key) != AES_KEY_BYTES:
            raise DecryptionError("The blob's key has the wrong length")
    return key, iv


# --------------------------------------------------------------------------------------------
# unencrypted collaborations
# --------------------------------------------------------------------------------------------
def base64_encode_chunks(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Base64 text of the concatenated chunks, yielded piecewise (identical to one encode)."""
    carry = b""
    for chunk in chunks:
        data = carry + chunk if carry else chunk
        cut = len(data) - len(data) % 3
        carry = data[cut:]
        if cut:
            yield base64.b64encode(data[:cut])
    if carry:
        yield base64.b64encode(carry)


def base64_decode_chunks(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Decode base64 text given in arbitrary pieces; whitespace is ignored.

    Raises :class:`~vantage6_common.crypto.DecryptionError` for anything that is not strict
    base64 (including data after the ``=`` padding or a length that is not a multiple of 4).
    """
    carry = b""
    finished = False
    for chunk in chunks:
        data = carry + chunk.translate(None, _WHITESPACE)
        cut = len(data) - len(data) % 4
        carry = data[cut:]
        if not cut:
            continue
        if finished:
            raise DecryptionError("The blob has base64 data after its padding")
        finished = data[cut - 1 : cut] == b"="
        yield _strict_b64decode(data[:cut])
    if carry:
        if finished:
            raise DecryptionError("The blob has base64 data after its padding")
        raise DecryptionError("The blob is not base64: its length is not a multiple of 4")


def _strict_b64decode(data: bytes) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DecryptionError("The blob is not valid base64") from exc


# --------------------------------------------------------------------------------------------
# either
# --------------------------------------------------------------------------------------------
def encode_chunks(chunks: Iterable[bytes], public_key_b64: str | None) -> Iterator[bytes]:
    """What to upload: encrypted for ``public_key_b64``, or base64 when it is None."""
    if public_key_b64 is None:
        return base64_encode_chunks(chunks)
    return encrypt_chunks(chunks, public_key_b64)


def decode_chunks(
    chunks: Iterable[bytes], private_key: rsa.RSAPrivateKey | None
) -> Iterator[bytes]:
    """What was downloaded, decoded: decrypted with ``private_key``, or base64 when None."""
    if private_key is None:
        return base64_decode_chunks(chunks)
    return decrypt_chunks(chunks, private_key)


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
