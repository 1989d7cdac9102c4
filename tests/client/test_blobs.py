"""Our client on a server with a blob store (filesystem backend): task inputs go up as blobs,
results written as blobs come back decoded, or streamed to a file. A stand-in node works the
runs through the API (``GET /blobstream/<input>``, ``POST /blobstream``, ``PATCH /run``)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import threading
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.client import blobworld
from tests.published import published_python
from vantage6_client import EncryptionError, NotFoundError, V6ClientError
from vantage6_common import blob_crypto, crypto, serialization

MIB = 1024 * 1024
PUBLISHED_SCRIPT = Path(__file__).parent / "published" / "blob_task.py"
# the fixtures of the server with a blob store and its federation
blob_dir, live_server, world = blobworld.blob_dir, blobworld.live_server, blobworld.world


def answer_now(world: dict, collab_id: int, result_of) -> int:
    """Each organization's node answers its open runs with a result blob; returns how many."""
    answered = 0
    for org_id in world["orgs"]:
        node = world["nodes"][collab_id, org_id]
        for run in node.open_runs():
            node.start(run)
            node.finish_with_blob(run, result_of(node.read_input(run), org_id))
            answered += 1
    return answered


def answer_runs(world: dict, collab_id: int, result_of) -> threading.Thread:
    """:func:`answer_now` in a thread (errors kept in ``thread.errors``)."""
    errors: list[BaseException] = []

    def work() -> None:
        try:
            answer_now(world, collab_id, result_of)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    thread = threading.Thread(target=work)
    thread.errors = errors  # type: ignore[attr-defined]
    thread.start()
    return thread


def json_chunks(value: Any) -> Iterator[bytes]:
    return blob_crypto.read_chunks(_BytesSource(serialization.dumps_bytes(value)))


class _BytesSource:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def read(self, size: int) -> bytes:
        piece = self.data[self.at : self.at + size]
        self.at += len(piece)
        return piece


def stored_files(blob_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in blob_dir.iterdir() if p.is_file()}


@pytest.mark.parametrize("kind", ["plain", "secret"])
def test_blob_task_round_trip(world: dict, blob_dir: Path, tmp_path: Path, kind: str) -> None:
    alice = world["alice"]
    collab = world[kind]
    alice.setup_encryption(world["key_a"] if kind == "secret" else None)
    marker = f"needle-{uuid.uuid4().hex}"
    task = alice.task.create(
        collaboration=collab["id"],
        organizations=world["orgs"],
        name=f"{kind} blob task",
        image="localhost/v6demo",
        input_={"method": "echo", "kwargs": {"marker": marker}},
        databases="default",
    )
    runs = alice.run.from_task(task["id"], decrypt_input=False).data
    assert {r["blob_storage_used"] for r in runs} == {True}
    refs = [r["input"] for r in runs]
    assert all(uuid.UUID(ref) for ref in refs) and len(set(refs)) == 2  # one blob each
    stored = stored_files(blob_dir)
    for ref in refs:
        content = stored[ref]
        assert marker.encode() not in content  # never plain JSON on the server
        if kind == "secret":
            assert content.count(b"$") >= 2
            assert marker.encode() not in serialization.b64_to_bytes(content.split(b"$")[0])
        else:
            sent = serialization.loads(serialization.b64_to_bytes(content))
            assert sent["kwargs"]["marker"] == marker
    # the usual getters fetch and decode the input
    own = alice.run.from_task(task["id"]).data
    mine = [r for r in own if r["organization"]["id"] == world["orgs"][0]]
    assert mine[0]["input"] == {"method": "echo", "kwargs": {"marker": marker}}

    thread = answer_runs(
        world, collab["id"], lambda inp, org: json_chunks({"org": org, **inp["kwargs"]})
    )
    try:
        results = alice.wait_for_results(task["id"], timeout=60)
    finally:  # a node's error explains a timeout
        thread.join()
        assert not thread.errors, thread.errors  # type: ignore[attr-defined]
    expected = {org: {"org": org, "marker": marker} for org in world["orgs"]}
    assert sorted((r["result"] for r in results.data), key=lambda r: r["org"]) == [
        expected[org] for org in sorted(world["orgs"])
    ]
    run_id = results.data[0]["id"]
    value = alice.result.get(run_id)
    assert value in expected.values()
    size = alice.result.download(run_id, tmp_path / "result.json")
    assert (tmp_path / "result.json").read_bytes() == serialization.dumps_bytes(value)
    assert size == len(serialization.dumps_bytes(value))
    task_with = alice.task.get(task["id"], include_results=True)
    assert {r["result"]["org"] for r in task_with["results"]} == set(world["orgs"])


def _pattern(count: int) -> Iterator[bytes]:
    """``count`` MiB of JSON text (a string), made one MiB at a time."""
    yield b'"'
    for index in range(count):
        yield hashlib.sha256(str(index).encode()).hexdigest().encode() * (MIB // 64)
    yield b'"'


@pytest.mark.parametrize("kind", ["plain", "secret"])
def test_download_streams_a_large_result(world: dict, tmp_path: Path, kind: str) -> None:
    """A 48 MiB result goes to a file with far less than its size in memory."""
    alice = world["alice"]
    collab = world[kind]
    alice.setup_encryption(world["key_a"] if kind == "secret" else None)
    task = alice.task.create(
        collaboration=collab["id"],
        organizations=world["orgs"][:1],
        name="large",
        image="localhost/v6demo",
        input_={"method": "big"},
    )
    node = world["nodes"][collab["id"], world["orgs"][0]]
    run = node.open_runs()[0]
    node.start(run)
    node.finish_with_blob(run, _pattern(48))
    alice.wait_for_task(task["id"], timeout=60)
    target = tmp_path / "big.json"
    tracemalloc.start()
    started = time.perf_counter()
    try:
        size = alice.result.download(run["id"], target)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    seconds = time.perf_counter() - started
    print(
        f"\n{kind}: 48 MiB result to a file in {seconds:.2f} s ({48 / seconds:.0f} MiB/s, "
        f"traced), peak {peak / MIB:.1f} MiB of Python memory"
    )
    expected = hashlib.sha256(b"".join(_pattern(48))).hexdigest()
    assert size == 48 * MIB + 2
    assert hashlib.sha256(target.read_bytes()).hexdigest() == expected
    assert peak < 12 * MIB, f"peak {peak / MIB:.1f} MiB while streaming 48 MiB"


def test_download_errors_leave_no_file(world: dict, tmp_path: Path) -> None:
    alice = world["alice"]
    alice.setup_encryption(None)
    target = tmp_path / "nothing.json"
    with pytest.raises(NotFoundError):
        alice.result.download(10**8, target)
    # an encrypted blob without our key set up: a clear error, no file
    task = alice.task.create(
        collaboration=world["plain"]["id"],
        organizations=world["orgs"][:1],
        name="no key",
        image="localhost/v6demo",
        input_={},
    )
    node = world["nodes"][world["plain"]["id"], world["orgs"][0]]
    run = node.open_runs()[0]
    node.start(run)
    public_key = crypto.Cryptor(world["key_a"]).public_key_str
    answer = node.http.post(
        "/blobstream",
        content=blob_crypto.encrypt_chunks(iter([b'{"a": 1}']), public_key),
        headers={"Content-Type": "application/octet-stream"},
    )
    node._patch(run["id"], {"status": "completed", "result": answer.json()["uuid"]})
    alice.wait_for_task(task["id"], timeout=60)
    with pytest.raises(EncryptionError, match="setup_encryption"):
        alice.result.download(run["id"], target)
    assert not target.exists()
    alice.setup_encryption(world["key_a"])
    assert alice.result.get(run["id"]) == {"a": 1}


def test_authenticated_collaboration_cannot_use_blobs(world: dict) -> None:
    """Blobs exist only in the vantage6 (CTR) format, which such a collaboration refuses: a
    clear error before anything is uploaded."""
    root, alice = world["root"], world["alice"]
    strict = root.collaboration.create(
        blobworld.unique("strict"), world["orgs"], encrypted=True, encryption_scheme="authenticated"
    )
    alice.setup_encryption(world["key_a"])
    with pytest.raises(EncryptionError, match="requires the authenticated format"):
        alice.task.create(
            collaboration=strict["id"],
            organizations=world["orgs"],
            name="strict",
            image="localhost/v6demo",
            input_={"method": "x"},
        )
    assert alice.task.list(collaboration=strict["id"]).data == []


def _published(*args: object) -> dict:
    done = subprocess.run(
        [str(published_python()), str(PUBLISHED_SCRIPT), *[str(a) for a in args]],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("kind", ["plain", "secret"])
def test_blobs_of_the_published_client_and_ours_agree(world: dict, live_server, kind: str) -> None:
    """The published vantage6 4.14 client uploads a task's inputs as blobs: our client reads
    them; results written as blobs in the shared format: both clients read the same values."""
    alice, collab = world["alice"], world[kind]
    key = world["key_a"] if kind == "secret" else "-"
    alice.setup_encryption(world["key_a"] if kind == "secret" else None)
    marker = f"needle-{uuid.uuid4().hex}"
    login = (live_server.api_url, world["username"], blobworld.PASSWORD, key)
    orgs = ",".join(str(o) for o in world["orgs"])
    created = _published("create", *login, collab["id"], orgs, marker)
    assert created["enabled"] is True
    task_id = created["task"]
    runs = alice.run.from_task(task_id).data
    assert {r["blob_storage_used"] for r in runs} == {True}
    mine = [r for r in runs if r["organization"]["id"] == world["orgs"][0]][0]
    assert mine["input"] == {"method": "echo", "kwargs": {"marker": marker}}

    answered = answer_now(
        world, collab["id"], lambda inp, org: json_chunks({"org": org, **inp["kwargs"]})
    )
    assert answered == 2
    ours = alice.wait_for_results(task_id, timeout=60)
    expected = sorted(
        ({"org": org, "marker": marker} for org in world["orgs"]), key=lambda r: r["org"]
    )
    assert sorted((r["result"] for r in ours.data), key=lambda r: r["org"]) == expected
    theirs = _published("results", *login, task_id)["results"]
    assert sorted(theirs, key=lambda r: r["org"]) == expected


def test_a_reference_that_is_no_uuid_is_refused_before_any_request(world: dict) -> None:
    alice = world["alice"]
    for reference in ("../../token/user", "", "x" * 40, "'6a1b'"):
        with pytest.raises(V6ClientError, match="not a blob reference"):
            alice.blobs.load(reference)
    # a quoted uuid (as 4.14 may store it) is a reference; this one names no blob
    with pytest.raises(NotFoundError):
        alice.blobs.load(f'"{uuid.uuid4()}"')


@pytest.mark.parametrize("kind", ["plain", "secret"])
def test_input_from_a_file_is_streamed_per_organization(
    world: dict, blob_dir: Path, tmp_path: Path, kind: str
) -> None:
    """``input_file``: the serialized input goes up once per organization, read from the file
    a chunk at a time (24 MiB here, twice what the upload may take)."""
    alice = world["alice"]
    collab = world[kind]
    alice.setup_encryption(world["key_a"] if kind == "secret" else None)
    source = tmp_path / "input.json"
    with source.open("wb") as fp:
        fp.write(b'{"method": "echo", "kwargs": {"pad": ')
        for piece in _pattern(24):
            fp.write(piece)
        fp.write(b"}}")
    tracemalloc.start()
    try:
        task = alice.task.create(
            collaboration=collab["id"],
            organizations=world["orgs"],
            name=f"{kind} input file",
            image="localhost/v6demo",
            input_file=source,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 12 * MIB, f"peak {peak / MIB:.1f} MiB while uploading 2 x 24 MiB"
    runs = alice.run.from_task(task["id"], decrypt_input=False).data
    assert {r["blob_storage_used"] for r in runs} == {True}
    assert len({r["input"] for r in runs}) == len(world["orgs"])
    for org_id in world["orgs"]:
        node = world["nodes"][collab["id"], org_id]
        (run,) = [r for r in node.open_runs() if r["task"]["id"] == task["id"]]
        assert node.read_input(run) == serialization.loads(source.read_bytes())


def test_input_file_errors(world: dict, tmp_path: Path) -> None:
    alice = world["alice"]
    alice.setup_encryption(None)
    kwargs = {
        "collaboration": world["plain"]["id"],
        "organizations": world["orgs"][:1],
        "name": "bad input file",
        "image": "localhost/v6demo",
    }
    with pytest.raises(V6ClientError, match="does not exist"):
        alice.task.create(**kwargs, input_file=tmp_path / "missing.json")
    (tmp_path / "in.json").write_text("{}")
    with pytest.raises(ValueError, match="not both"):
        alice.task.create(**kwargs, input_={}, input_file=tmp_path / "in.json")
