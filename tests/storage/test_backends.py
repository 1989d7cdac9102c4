"""The one storage test suite, run against every backend on a real endpoint."""

from __future__ import annotations

import hashlib
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.storage.conftest import BACKENDS, StoreUnderTest, azure_section, s3_section
from tests.storage.endpoints import start_azurite, start_moto
from vantage6_server.storage import (
    BlobNotFound,
    InvalidBlobId,
    StorageContext,
    StorageUnavailable,
    storage_from_config,
)

MIB = 1024 * 1024


def pattern_chunks(count: int, size: int = MIB, seed: int = 0) -> Iterator[bytes]:
    """``count`` chunks of ``size`` bytes, each made when asked for (never the whole blob)."""
    for index in range(count):
        yield hashlib.sha256(f"{seed}:{index}".encode()).digest() * (size // 32)


def digest(chunks: Iterator[bytes]) -> tuple[str, int]:
    hasher, size = hashlib.sha256(), 0
    for chunk in chunks:
        hasher.update(chunk)
        size += len(chunk)
    return hasher.hexdigest(), size


def failing_after(chunks: Iterator[bytes], count: int) -> Iterator[bytes]:
    for index, chunk in enumerate(chunks):
        if index == count:
            raise ConnectionResetError("client went away")
        yield chunk


def test_multi_chunk_round_trip_in_bounded_memory(store: StoreUnderTest) -> None:
    """32 MiB in 1 MiB chunks, while at most a quarter of that is held (a part or block)."""
    blob_size = 32 * MIB
    expected = digest(pattern_chunks(32))
    tracemalloc.start()
    try:
        written = store.backend.write("big-blob", pattern_chunks(32))
        _, write_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        reader = store.backend.read("big-blob")
        assert reader.size == blob_size
        got = digest(reader)
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert written == blob_size
    assert got == expected
    assert store.backend.size("big-blob") == blob_size
    assert write_peak < blob_size / 4, f"write peak {write_peak / MIB:.1f} MiB"
    assert read_peak < blob_size / 4, f"read peak {read_peak / MIB:.1f} MiB"


def test_chunks_file_objects_and_empty_blobs(store: StoreUnderTest, tmp_path: Path) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(b"0123456789" * 1000)
    with open(source, "rb") as handle:
        assert store.backend.write("from-file", handle) == 10_000
    reader = store.backend.read("from-file", chunk_size=3000)
    chunks = list(reader)
    assert b"".join(chunks) == source.read_bytes()
    assert max(len(chunk) for chunk in chunks) <= 3000

    assert store.backend.write("empty", iter([])) == 0
    assert store.backend.size("empty") == 0
    assert list(store.backend.read("empty")) == []


def test_write_replaces_and_reader_can_stop_early(store: StoreUnderTest) -> None:
    store.backend.write("blob", [b"first version"])
    store.backend.write("blob", [b"second ", b"version"])
    assert b"".join(store.backend.read("blob")) == b"second version"
    reader = store.backend.read("blob", chunk_size=4)
    assert next(reader) == b"seco"
    reader.close()
    assert store.backend.exists("blob")


def test_missing_blob(store: StoreUnderTest) -> None:
    with pytest.raises(BlobNotFound):
        store.backend.read("no-such-blob")
    with pytest.raises(BlobNotFound):
        store.backend.size("no-such-blob")
    assert not store.backend.exists("no-such-blob")


def test_delete_is_idempotent(store: StoreUnderTest) -> None:
    store.backend.write("doomed", [b"x" * 100])
    assert store.backend.delete("doomed") is True
    assert not store.backend.exists("doomed")
    assert store.backend.delete("doomed") is False
    with pytest.raises(BlobNotFound):
        store.backend.read("doomed")


@pytest.mark.parametrize("chunks_before_failure", [0, 3, 12])
def test_writer_failing_mid_stream_leaves_nothing(
    store: StoreUnderTest, chunks_before_failure: int
) -> None:
    """12 MiB is past two S3 parts and Azure blocks: the upload had begun in the store."""
    with pytest.raises(ConnectionResetError):
        store.backend.write("broken", failing_after(pattern_chunks(20), chunks_before_failure))
    assert not store.backend.exists("broken")
    assert store.leftovers() == []

    store.backend.write("kept", [b"old content"])
    with pytest.raises(ConnectionResetError):
        store.backend.write("kept", failing_after(pattern_chunks(20), chunks_before_failure))
    assert b"".join(store.backend.read("kept")) == b"old content"
    assert store.leftovers() == []


HOSTILE_IDS = [
    "",
    "..",
    "../outside",
    "a/b",
    "/etc/passwd",
    "..\\windows",
    ".partial",
    "blob id",
    "blob\x00",
    "%2e%2e%2fx",
    "bl\u00f6b",
    "x" * 129,
    None,
    42,
]


@pytest.mark.parametrize("blob_id", HOSTILE_IDS, ids=repr)
def test_hostile_ids_are_rejected(store: StoreUnderTest, blob_id: object) -> None:
    for call in (
        lambda: store.backend.write(blob_id, [b"data"]),  # type: ignore[arg-type]
        lambda: store.backend.read(blob_id),  # type: ignore[arg-type]
        lambda: store.backend.size(blob_id),  # type: ignore[arg-type]
        lambda: store.backend.exists(blob_id),  # type: ignore[arg-type]
        lambda: store.backend.delete(blob_id),  # type: ignore[arg-type]
    ):
        with pytest.raises(InvalidBlobId):
            call()
    assert store.leftovers() == []


def test_wrong_chunk_types_are_rejected(store: StoreUnderTest) -> None:
    with pytest.raises(TypeError):
        store.backend.write("typed", b"one bytes object")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.backend.write("typed", ["text, not bytes"])  # type: ignore[list-item]
    assert not store.backend.exists("typed")


def test_health_check_passes(store: StoreUnderTest) -> None:
    store.backend.check()


@pytest.mark.parametrize("name", BACKENDS)
def test_backend_down_is_reported_quickly(
    name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The store goes away after a blob was written: every call says so within seconds."""
    if name == "filesystem":
        section = {"type": "filesystem", "path": str(tmp_path / "blobs")}
        endpoint = None
    elif name == "s3":
        endpoint = start_moto(tmp_path)
        request.addfinalizer(endpoint.stop)
        section = s3_section(endpoint)
    else:
        endpoint = start_azurite(tmp_path)
        request.addfinalizer(endpoint.stop)
        section = azure_section(endpoint)
    backend = storage_from_config(section, StorageContext(data_dir=tmp_path))
    request.addfinalizer(backend.close)
    backend.write("before", [b"stored before the outage"])

    if endpoint is None:
        (tmp_path / "blobs").rename(tmp_path / "unmounted")
    else:
        endpoint.stop()

    for call in (
        backend.check,
        lambda: backend.write("during", pattern_chunks(2)),
        lambda: backend.read("before"),
        lambda: backend.size("before"),
        lambda: backend.delete("before"),
    ):
        started = time.monotonic()
        with pytest.raises(StorageUnavailable):
            call()
        assert time.monotonic() - started < 15
    if endpoint is None:
        assert not (tmp_path / "blobs").exists(), "a vanished folder must not be recreated"
        (tmp_path / "unmounted").rename(tmp_path / "blobs")
        assert b"".join(backend.read("before")) == b"stored before the outage"


def test_ids_lists_whole_blobs_only(store: StoreUnderTest) -> None:
    """What the server's orphan sweep reads: written blobs, not failed or deleted ones."""
    assert set(store.backend.ids()) == set()
    store.backend.write("kept-one", iter([b"a"]))
    store.backend.write("kept-two", pattern_chunks(6))
    with pytest.raises(ConnectionResetError):
        store.backend.write("cut-off", failing_after(pattern_chunks(12), 7))
    store.backend.write("gone", iter([b"b"]))
    store.backend.delete("gone")
    assert sorted(store.backend.ids()) == ["kept-one", "kept-two"]
