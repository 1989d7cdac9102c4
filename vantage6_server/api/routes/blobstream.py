"""Large inputs and results as streamed blobs (``/blobstream``, as vantage6 4.14 speaks it).

The body of an upload goes to the configured storage backend as it arrives and a download is
sent as it is read, so the server never holds a blob. Without a configured store every path
but ``/blobstream/status`` answers ``400 ... not enabled`` (4.14: 501; this server answers no
5xx for a feature it lacks), a store that cannot be reached ``503``.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import AsyncIterator, Iterator

import anyio
import anyio.from_thread
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.requests import ClientDisconnect

from vantage6_server.api.deps import Auth, Ctx, Db
from vantage6_server.api.errors import ApiError, ErrorBody, bad_request
from vantage6_server.api.routes.misc import not_enabled
from vantage6_server.api.schemas import BlobStoreStatus, BlobUploaded, answers
from vantage6_server.db import models as m
from vantage6_server.rbac.errors import PermissionDenied
from vantage6_server.rbac.policy import VIEW, ensure, ensure_blob_upload, may_report
from vantage6_server.services import blobs
from vantage6_server.storage import (
    BlobNotFound,
    StorageBackend,
    StorageUnavailable,
)

router = APIRouter(tags=["Blob storage"])

OCTET_STREAM = "application/octet-stream"
_UNAVAILABLE = {503: {"model": ErrorBody, "description": "The blob store cannot be reached"}}


def _store(storage: StorageBackend | None) -> StorageBackend:
    if storage is None:
        raise not_enabled("Large result storage")
    return storage


def _unavailable(exc: StorageUnavailable) -> ApiError:
    return ApiError(503, f"The blob store cannot be reached: {exc}")


def _blocking_chunks(stream: AsyncIterator[bytes]) -> Iterator[bytes]:
    """The request body's chunks for a worker thread, each fetched on the event loop."""
    while True:
        try:
            chunk = anyio.from_thread.run(stream.__anext__)
        except StopAsyncIteration:
            return
        if chunk:
            yield chunk


@router.get(
    "/blobstream/status",
    summary="Whether large inputs and results are blobs",
    **answers(BlobStoreStatus),
)
async def blobstream_status(ctx: Ctx) -> dict:
    return {"blob_store_enabled": ctx.storage is not None}


@router.post(
    "/blobstream",
    status_code=201,
    summary="Upload a large input or result as a stream of bytes; answers its uuid",
    **answers(BlobUploaded, 201, others=_UNAVAILABLE),
)
async def blobstream_upload(request: Request, principal: Auth, ctx: Ctx, session: Db) -> dict:
    store = _store(ctx.storage)
    task = session.get(m.Task, principal.id) if principal.is_container else None
    ensure_blob_upload(principal, task)
    collab = principal.collaboration_id
    # database work in a worker thread: a busy SQLite write lock must not stall the event loop
    used = await anyio.to_thread.run_sync(blobs.usage_before_upload, session, principal)
    blob_id = await anyio.to_thread.run_sync(blobs.begin_upload, session, principal)
    chunks = blobs.metered(
        _blocking_chunks(request.stream().__aiter__()), ctx.blob_policy, used, collab
    )
    try:
        size = await anyio.to_thread.run_sync(store.write, blob_id, chunks)
    except BaseException as exc:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(blobs.abandon_upload, session, blob_id)
        if isinstance(exc, ClientDisconnect):
            raise bad_request("The upload was cut off; nothing was stored") from None
        if isinstance(exc, StorageUnavailable):
            raise _unavailable(exc) from exc
        raise
    if not await anyio.to_thread.run_sync(blobs.finish_upload, session, blob_id, size):
        await anyio.to_thread.run_sync(blobs.delete_from_store, store, [blob_id])
        raise ApiError(409, "The upload took so long that it was cleaned up; upload it again")
    return {"uuid": blob_id}


@router.get(
    "/blobstream/{uuid}",
    summary="Download the input or result blob of a run you may see",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {OCTET_STREAM: {"schema": {"type": "string", "format": "binary"}}},
            "description": "The blob's bytes",
        },
        **_UNAVAILABLE,
    },
)
def blobstream_download(uuid: str, principal: Auth, ctx: Ctx, session: Db):
    store = _store(ctx.storage)
    try:
        canonical = str(uuidlib.UUID(uuid))
    except ValueError:
        raise bad_request(f"Not a blob id (a UUID): {uuid[:60]!r}") from None
    blob = session.get(m.Blob, canonical)
    run = session.get(m.Run, blob.run_id) if blob is not None and blob.run_id else None
    if run is None:
        raise ApiError(404, f"No run found with input or result id={canonical}")
    ensure(principal, VIEW, "run", run)
    if blob.role == blobs.INPUT and not (principal.is_user or may_report(principal, run)):
        # a run's input is for its own node (and users who may view the run)
        raise PermissionDenied("Only the run's own node reads its input")
    try:
        reader = store.read(canonical)
    except BlobNotFound:
        raise ApiError(404, f"Blob {canonical} is not in the store") from None
    except StorageUnavailable as exc:
        raise _unavailable(exc) from exc
    return StreamingResponse(
        reader,
        media_type=OCTET_STREAM,
        headers={
            "Content-Disposition": f"attachment; filename=result_{canonical}.bin",
            "Content-Length": str(reader.size),
        },
    )
