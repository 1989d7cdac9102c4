"""The orphan sweep of a live server: old unattached uploads and store objects with no row go;
blobs of tasks, and objects not named like this server's blobs, stay."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api import Api
from tests.server.blobfed import (
    BlobServer,
    create_task,
    start_blob_server,
    store_section,
    upload,
    uploaded,
    wait_for,
)
from tests.storage.endpoints import start_moto

ORPHAN_MINUTES = 0.2  # 12 s: an upload older than that and never attached is swept
SWEEP_MINUTES = 0.02  # every 1.2 s


FS_SQLITE, S3_POSTGRESQL = ("filesystem", "sqlite"), ("s3", "postgresql")


@pytest.fixture
def swept(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobServer]:
    backend, database = request.param
    moto = start_moto(tmp_path) if backend == "s3" else None
    started = start_blob_server(
        store_section(backend, tmp_path, moto.url if moto else None),
        tmp_path,
        database,
        orphan_upload_minutes=ORPHAN_MINUTES,
        sweep_interval_minutes=SWEEP_MINUTES,
    )
    yield started
    started.stop()
    if moto:
        moto.stop()


def _root_and_collab(swept: BlobServer) -> tuple[Api, int, int]:
    server = swept.server
    root = Api.as_user(server.api_url, server.root_username, server.root_password)
    own = root.ok("POST", "/token/user/validate")["organization_id"]
    collab = root.ok(
        "POST",
        "/collaboration",
        json={"name": "swept", "encrypted": False, "organization_ids": [own]},
    )["id"]
    return root, own, collab


@pytest.mark.parametrize("swept", [FS_SQLITE, S3_POSTGRESQL], indirect=True, ids="-".join)
def test_old_uploads_and_objects_without_rows_are_swept(swept: BlobServer) -> None:
    root, own, collab = _root_and_collab(swept)
    orphan = uploaded(root, b"never attached")
    uploaded_at = time.monotonic()
    used = uploaded(root, b"a task's input")
    task = create_task(root, collab, {own: used})
    assert task.status_code == 201, task.text
    planted = str(uuid.uuid4())
    swept.store.write(planted, iter([b"left by a crash"]))
    swept.store.write("not-ours", iter([b"someone else's object"]))

    wait_for(lambda: planted not in swept.objects(), what="the planted object to be swept")
    if time.monotonic() - uploaded_at < ORPHAN_MINUTES * 60 - 3:
        assert orphan in swept.objects(), "swept before orphan_upload_minutes"
    wait_for(lambda: orphan not in swept.objects(), timeout=90, what="the old upload to go")
    assert swept.rows("uuid = ?", orphan) == []
    assert {used, "not-ours"} <= swept.objects()
    assert [row[0] for row in swept.rows("task_id IS NOT NULL")] == [used]


@pytest.mark.parametrize("swept", [FS_SQLITE], indirect=True, ids="-".join)
def test_a_delete_the_store_refused_is_finished_by_the_sweep(swept: BlobServer) -> None:
    """The blob folder is away (an unmounted volume) while a task is deleted."""
    root, own, collab = _root_and_collab(swept)
    blob = uploaded(root, b"input of a task deleted while the store is away")
    task = create_task(root, collab, {own: blob}).json()
    folder = Path(swept.section["path"])
    away = folder.with_name(folder.name + "-away")
    folder.rename(away)
    try:
        root.ok("DELETE", f"/task/{task['id']}")
        assert swept.rows("uuid = ?", blob) == []
        assert (away / blob).read_bytes().startswith(b"input of a task")
    finally:
        away.rename(folder)
    wait_for(lambda: blob not in swept.objects(), timeout=60, what="the sweep to delete it")


@pytest.mark.parametrize("swept", [FS_SQLITE], indirect=True, ids="-".join)
def test_an_upload_that_outlives_its_row_is_a_409_and_leaves_nothing(swept: BlobServer) -> None:
    """The sweep takes the row of an upload still streaming after orphan_upload_minutes."""
    root, _, _ = _root_and_collab(swept)
    before = swept.objects()

    def slow() -> Iterator[bytes]:
        yield b"first part"
        wait_for(lambda: swept.rows("size IS NULL") != [], what="the upload's row")
        wait_for(lambda: swept.rows("size IS NULL") == [], timeout=90, what="the sweep")
        yield b"second part"

    answer = upload(root, slow())
    assert answer.status_code == 409, answer.text
    assert "upload it again" in answer.json()["msg"]
    assert swept.objects() == before
