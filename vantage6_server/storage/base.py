"""Backend-neutral interface to a blob store for large task inputs and results.

The server talks to blob storage only through :class:`StorageBackend`. Backends live in
``plugins/vantage6_storage_*`` (or any installed package) and are found through the
``vantage6.storage`` entry point group (see :mod:`vantage6_server.storage.loader`).

Everything streams: :meth:`StorageBackend.write` consumes an iterable of ``bytes`` chunks (or a
binary file-like object) and :meth:`StorageBackend.read` yields chunks, so no backend ever holds a
whole blob in memory. A write is all or nothing: when the source raises or the store fails half
way, no blob (and no partial blob) is visible under that id afterwards.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, ClassVar

from pydantic import BaseModel, ConfigDict

# The size of the chunks read from a blob and from file-like sources (vantage6 4.x uses 1 MiB).
DEFAULT_CHUNK_SIZE = 1024 * 1024

# Letters, digits, '-' and '_': a UUID fits, and so does nothing with a path or URL meaning.
_BLOB_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")

BlobSource = Iterable[bytes] | BinaryIO
"""What :meth:`StorageBackend.write` accepts: chunks of bytes, or a binary file to ``read``."""


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class StorageError(Exception):
    """Base class of every error raised by a storage backend."""


class StorageUnavailable(StorageError):
    """The store cannot be reached or refuses to work (down, timed out, no permission)."""


class BlobNotFound(StorageError, LookupError):
    """No blob with that id."""


class InvalidBlobId(StorageError, ValueError):
    """The id is not one a blob can have (empty, too long, or with characters outside
    ``A-Z a-z 0-9 - _``)."""


class StorageConfigError(StorageError, ValueError):
    """The backend's settings are incomplete or wrong, or its library is not installed."""


def check_blob_id(blob_id: object) -> str:
    """Return ``blob_id`` when it is a safe blob id, else raise :class:`InvalidBlobId`."""
    if not isinstance(blob_id, str) or not _BLOB_ID.fullmatch(blob_id):
        shown = repr(blob_id)[:60]
        raise InvalidBlobId(f"invalid blob id {shown}: use 1 to 128 letters, digits, '-' or '_'")
    return blob_id


def iter_source(source: BlobSource, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
    """The non-empty chunks of ``source``: an iterable of bytes or a binary file-like object."""
    if isinstance(source, bytes | bytearray | memoryview):
        raise TypeError("write() takes chunks or a file, not one bytes object")
    read = getattr(source, "read", None)
    if callable(read):
        while chunk := read(chunk_size):
            yield bytes(chunk)
        return
    for chunk in source:
        if not isinstance(chunk, bytes | bytearray | memoryview):
            raise TypeError(f"blob chunks must be bytes, not {type(chunk).__name__}")
        if chunk:
            yield chunk


def rechunk(chunks: Iterable[bytes], size: int) -> Iterator[bytearray]:
    """Regroup ``chunks`` into pieces of exactly ``size`` bytes (the last one may be shorter).

    A backend whose store wants parts of a minimum size (S3 multipart, Azure blocks) uses this;
    it holds one piece at a time (the consumer must be done with a piece before the next).
    """
    buffer = bytearray()
    for chunk in chunks:
        view = memoryview(chunk)
        while view:
            taken = size - len(buffer)
            buffer += view[:taken]
            view = view[taken:]
            if len(buffer) == size:
                yield buffer
                buffer = bytearray()
    if buffer:
        yield buffer


# --------------------------------------------------------------------------------------------
# The interface
# --------------------------------------------------------------------------------------------


class StorageSettings(BaseModel):
    """Base of every backend's settings. Unknown keys are errors, so that typos show."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class StorageContext:
    """What the server tells every backend about itself."""

    data_dir: Path
    """The server's data folder (the filesystem backend keeps its blobs next to it)."""


class BlobReader(Iterator[bytes]):
    """The chunks of one blob, opened: its size is known and a missing blob has already raised.

    Iterate to get the bytes; :meth:`close` (or the end of the iteration) frees the connection.
    """

    def __init__(
        self, size: int, chunks: Iterator[bytes], release: Callable[[], None] | None = None
    ) -> None:
        self.size = size
        self._chunks = chunks
        self._release = release

    def __next__(self) -> bytes:
        return next(self._chunks)

    def close(self) -> None:
        """Stop reading early; releases the file or connection behind the chunks."""
        close = getattr(self._chunks, "close", None)
        if callable(close):
            close()
        if self._release is not None:
            self._release()
            self._release = None


class StorageBackend(abc.ABC):
    """A place to keep large blobs by id. Implementations must be safe to call from threads."""

    name: ClassVar[str]
    """The entry point name (``large_result_store.type`` in the server's config)."""

    Settings: ClassVar[type[StorageSettings]]
    """The settings this backend takes (``v6 server new`` asks for each field)."""

    def __init__(self, settings: StorageSettings, context: StorageContext) -> None:
        self.settings = settings
        self.context = context

    # Public methods check the id, then call the backend's implementation.

    def write(self, blob_id: str, source: BlobSource) -> int:
        """Store the bytes of ``source`` as ``blob_id`` (replacing one there); return the size.

        All or nothing: an exception from ``source`` propagates unchanged, a failing store
        raises :class:`StorageUnavailable`, and either way no blob appears under ``blob_id``.
        """
        return self._write(check_blob_id(blob_id), iter_source(source))

    def read(self, blob_id: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> BlobReader:
        """Open ``blob_id`` for reading in chunks of at most ``chunk_size`` bytes.

        Raises :class:`BlobNotFound` here, before any chunk, when there is no such blob.
        """
        if chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        return self._read(check_blob_id(blob_id), chunk_size)

    def delete(self, blob_id: str) -> bool:
        """Remove ``blob_id``; True if it was there. Deleting a missing blob is no error."""
        return self._delete(check_blob_id(blob_id))

    def size(self, blob_id: str) -> int:
        """The size of ``blob_id`` in bytes; :class:`BlobNotFound` when it does not exist."""
        return self._size(check_blob_id(blob_id))

    def exists(self, blob_id: str) -> bool:
        """Whether ``blob_id`` is stored."""
        try:
            self.size(blob_id)
        except BlobNotFound:
            return False
        return True

    def ids(self) -> Iterator[str]:
        """The ids of the stored blobs (whole ones only, in no particular order), read lazily.

        The server's orphan sweep deletes those it has no record of, so a store must be used by
        one server (database) only. A backend that cannot list raises
        :class:`NotImplementedError` (the sweep then only deletes what it has records of).
        """
        raise NotImplementedError(f"the {self.name} backend cannot list its blobs")

    @abc.abstractmethod
    def check(self) -> None:
        """Raise :class:`StorageUnavailable` (with the reason) when the store cannot be used."""

    def close(self) -> None:  # noqa: B027 - most backends have nothing to release
        """Release connections; the backend is not used afterwards."""

    @abc.abstractmethod
    def _write(self, blob_id: str, chunks: Iterator[bytes]) -> int: ...

    @abc.abstractmethod
    def _read(self, blob_id: str, chunk_size: int) -> BlobReader: ...

    @abc.abstractmethod
    def _delete(self, blob_id: str) -> bool: ...

    @abc.abstractmethod
    def _size(self, blob_id: str) -> int: ...
