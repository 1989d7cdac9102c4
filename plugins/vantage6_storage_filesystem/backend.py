"""Filesystem storage backend: one file per blob, written to a temporary file and renamed.

A blob appears only when its temporary file is complete and flushed to disk and renamed over
its final name, so a failed or interrupted upload never leaves a partial blob. Temporary files
live in a ``.partial`` folder beside the blobs (same filesystem, so the rename is atomic) and
ones left by a crash are removed when the backend starts.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from pydantic import Field

from vantage6_server.storage.base import (
    BlobNotFound,
    BlobReader,
    StorageBackend,
    StorageContext,
    StorageSettings,
    StorageUnavailable,
)

PARTIAL_DIR = ".partial"


class FilesystemSettings(StorageSettings):
    """Where the blobs are kept."""

    path: Path | None = Field(
        None,
        description="folder for the blobs (default: 'blobs' in the server's data folder)",
    )


class FilesystemStorage(StorageBackend):
    """Blobs as files in one folder."""

    name = "filesystem"
    Settings = FilesystemSettings

    def __init__(self, settings: FilesystemSettings, context: StorageContext) -> None:
        super().__init__(settings, context)
        self.root = Path(settings.path or context.data_dir / "blobs").expanduser().absolute()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            partial = self.root / PARTIAL_DIR
            partial.mkdir(exist_ok=True)
            for leftover in partial.iterdir():
                leftover.unlink(missing_ok=True)
        except OSError as exc:
            raise StorageUnavailable(f"blob folder {self.root}: {exc.strerror or exc}") from exc

    def check(self) -> None:
        partial = self.root / PARTIAL_DIR
        if not partial.is_dir():
            # A vanished mount is not silently replaced by an empty local folder.
            raise StorageUnavailable(f"blob folder {self.root} is missing or not a folder")
        if not os.access(partial, os.W_OK | os.X_OK):
            raise StorageUnavailable(f"blob folder {self.root} is not writable")

    def _path(self, blob_id: str) -> Path:
        return self.root / blob_id

    def _write(self, blob_id: str, chunks: Iterator[bytes]) -> int:
        self.check()
        try:
            fd, temp_name = tempfile.mkstemp(prefix=f"{blob_id}.", dir=self.root / PARTIAL_DIR)
        except OSError as exc:
            raise StorageUnavailable(f"cannot write to {self.root}: {exc.strerror}") from exc
        try:
            with os.fdopen(fd, "wb") as out:
                size = _copy(chunks, out, blob_id)
            try:
                os.replace(temp_name, self._path(blob_id))
            except OSError as exc:
                raise StorageUnavailable(f"storing blob {blob_id}: {exc.strerror}") from exc
        except BaseException:
            # The source's own errors pass through unchanged; nothing partial stays behind.
            Path(temp_name).unlink(missing_ok=True)
            raise
        return size

    def _read(self, blob_id: str, chunk_size: int) -> BlobReader:
        self.check()
        try:
            handle = open(self._path(blob_id), "rb")  # noqa: SIM115 - closed by the generator
        except FileNotFoundError:
            raise BlobNotFound(f"no blob {blob_id}") from None
        except OSError as exc:
            raise StorageUnavailable(f"reading blob {blob_id}: {exc.strerror}") from exc

        def chunks() -> Iterator[bytes]:
            with handle:
                while chunk := handle.read(chunk_size):
                    yield chunk

        return BlobReader(os.fstat(handle.fileno()).st_size, chunks(), handle.close)

    def _delete(self, blob_id: str) -> bool:
        self.check()
        try:
            self._path(blob_id).unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StorageUnavailable(f"deleting blob {blob_id}: {exc.strerror}") from exc
        return True

    def ids(self) -> Iterator[str]:
        self.check()
        try:
            with os.scandir(self.root) as entries:
                for entry in entries:
                    if entry.is_file(follow_symlinks=False) and entry.name != PARTIAL_DIR:
                        yield entry.name
        except OSError as exc:
            raise StorageUnavailable(f"listing {self.root}: {exc.strerror}") from exc

    def _size(self, blob_id: str) -> int:
        self.check()
        try:
            return self._path(blob_id).stat().st_size
        except FileNotFoundError:
            raise BlobNotFound(f"no blob {blob_id}") from None
        except OSError as exc:
            raise StorageUnavailable(f"blob {blob_id}: {exc.strerror}") from exc


def _copy(chunks: Iterator[bytes], out: BinaryIO, blob_id: str) -> int:
    """Write ``chunks`` to ``out`` and flush them to disk; the store's errors become
    :class:`StorageUnavailable`, the source's pass through."""
    size = 0
    for chunk in chunks:
        try:
            out.write(chunk)
        except OSError as exc:
            raise StorageUnavailable(f"writing blob {blob_id}: {exc.strerror}") from exc
        size += len(chunk)
    try:
        out.flush()
        os.fsync(out.fileno())
    except OSError as exc:
        raise StorageUnavailable(f"writing blob {blob_id}: {exc.strerror}") from exc
    return size
