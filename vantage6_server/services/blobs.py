"""Blob bookkeeping: who uploaded a blob, which task and run it belongs to, quotas, deletion.

Rules (stricter than vantage6 4.14, which takes any uuid):

- an upload gets its row before its bytes are stored (``size`` null while it streams);
- a task's input blob must be complete, unattached and uploaded by the creator (a user, or an
  algorithm container of a task in the same collaboration for subtasks); a run's result blob
  by the run's own node. Anything else is one 400 that does not tell whether the blob exists;
- attaching is a conditional UPDATE, so a blob belongs to one run even under races;
- blobs leave the store after the commit that dropped their rows; a store that fails then is
  logged and the orphan sweep (``services/blob_sweep.py``) finishes the job.
"""

from __future__ import annotations

import logging
import uuid as uuidlib
from collections.abc import Iterable, Iterator

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from vantage6_common.service.errors import ApiError
from vantage6_server.db import models as m
from vantage6_server.rbac.principal import Principal
from vantage6_server.storage import StorageBackend, StorageError
from vantage6_server.storage.setup import BlobPolicy

log = logging.getLogger(__name__)
MIB = 1024 * 1024
INPUT, RESULT = "input", "result"


class QuotaExceeded(ApiError):
    """A collaboration's blobs would take more than its quota: 413."""

    def __init__(self, quota_bytes: int, used: int, collaboration_id: int | None) -> None:
        where = (
            f"collaboration id={collaboration_id}"
            if collaboration_id
            else "your uploads that no task uses yet"
        )
        super().__init__(
            413,
            f"The blob store quota of {quota_bytes / MIB:g} MiB for {where} would be exceeded "
            f"({used / MIB:.1f} MiB in use); delete tasks or ask an administrator",
        )


def canonical(value: object) -> str | None:
    """The uuid in ``value`` (quotes around it tolerated, as 4.14's readers do), else None."""
    if not isinstance(value, str):
        return None
    try:
        return str(uuidlib.UUID(value.strip().strip("'\"")))
    except ValueError:
        return None


def _uploader(principal: Principal) -> tuple[str, int, int | None]:
    """(kind, id, collaboration id) recorded for an upload by ``principal``."""
    return principal.kind, principal.id, principal.collaboration_id


# --------------------------------------------------------------------------------------------
# Uploads
# --------------------------------------------------------------------------------------------


def begin_upload(session: Session, principal: Principal) -> str:
    """Write (and commit) the row of a new upload; returns its uuid."""
    kind, id_, collab = _uploader(principal)
    blob_id = str(uuidlib.uuid4())
    session.add(m.Blob(uuid=blob_id, uploader_kind=kind, uploader_id=id_, collaboration_id=collab))
    session.commit()
    return blob_id


def finish_upload(session: Session, blob_id: str, size: int) -> bool:
    """Record the size of a completed upload; False when its row is gone (the orphan sweep
    took an upload that ran longer than ``orphan_upload_minutes``)."""
    done = session.execute(update(m.Blob).where(m.Blob.uuid == blob_id).values(size=size))
    session.commit()
    return done.rowcount == 1


def abandon_upload(session: Session, blob_id: str) -> None:
    """Drop the row of an upload that failed (the store keeps nothing of a failed write)."""
    session.rollback()
    session.execute(m.Blob.__table__.delete().where(m.Blob.uuid == blob_id))
    session.commit()


def used_bytes(session: Session, collaboration_id: int) -> int:
    """Bytes of the collaboration's blobs (uploads counted as they complete)."""
    total = session.scalar(
        select(func.coalesce(func.sum(m.Blob.size), 0)).where(
            m.Blob.collaboration_id == collaboration_id
        )
    )
    return int(total or 0)


def pending_bytes(session: Session, principal: Principal) -> int:
    """Bytes of the principal's uploads that no task or run has taken yet."""
    total = session.scalar(
        select(func.coalesce(func.sum(m.Blob.size), 0)).where(
            m.Blob.uploader_kind == principal.kind,
            m.Blob.uploader_id == principal.id,
            m.Blob.task_id.is_(None),
        )
    )
    return int(total or 0)


def usage_before_upload(session: Session, principal: Principal) -> int:
    """What an upload by ``principal`` is metered against: its collaboration's blobs (nodes,
    containers), or the user's own uploads that no task took yet (one quota's worth)."""
    collab = principal.collaboration_id
    return used_bytes(session, collab) if collab is not None else pending_bytes(session, principal)


def metered(
    chunks: Iterable[bytes], policy: BlobPolicy, already_used: int, collaboration_id: int | None
) -> Iterator[bytes]:
    """``chunks``, raising :class:`QuotaExceeded` as soon as they would go over the quota."""
    quota = policy.quota_bytes
    count = 0
    for chunk in chunks:
        count += len(chunk)
        if quota is not None and already_used + count > quota:
            raise QuotaExceeded(quota, already_used, collaboration_id)
        yield chunk


# --------------------------------------------------------------------------------------------
# Attaching
# --------------------------------------------------------------------------------------------


def _not_yours(what: str) -> ApiError:
    return ApiError(
        400,
        f"{what} is not a blob you uploaded and may use: upload the data with "
        "POST /blobstream first and pass the uuid it answers (each blob once)",
    )


def _may_use(principal: Principal, blob: m.Blob, collaboration_id: int) -> bool:
    if blob.size is None or blob.task_id is not None:
        return False
    if principal.is_container:
        return blob.uploader_kind == "container" and blob.collaboration_id == collaboration_id
    return blob.uploader_kind == principal.kind and blob.uploader_id == principal.id


def check_inputs(
    session: Session,
    principal: Principal,
    collaboration_id: int,
    inputs: dict[int, str],
    policy: BlobPolicy,
) -> dict[int, str]:
    """Each organization's input as the canonical uuid of a blob the caller may attach."""
    refs: dict[int, str] = {}
    for org_id, value in inputs.items():
        ref = canonical(value)
        if ref is None:
            raise ApiError(
                400,
                f"The input for organization id={org_id} must be the uuid of a blob: this "
                "server keeps inputs in its blob store, so the client must upload them first "
                "(POST /blobstream)",
            )
        refs[org_id] = ref
    if len(set(refs.values())) != len(refs):
        raise ApiError(400, "Each organization's input must be a blob of its own")
    blobs = {
        b.uuid: b
        for b in session.scalars(select(m.Blob).where(m.Blob.uuid.in_(list(refs.values()))))
    }
    for org_id, ref in refs.items():
        blob = blobs.get(ref)
        if blob is None or not _may_use(principal, blob, collaboration_id):
            raise _not_yours(f"The input for organization id={org_id}")
    new_bytes = sum(b.size or 0 for b in blobs.values() if b.collaboration_id != collaboration_id)
    check_quota(session, policy, collaboration_id, new_bytes)
    return refs


def check_quota(session: Session, policy: BlobPolicy, collaboration_id: int, adding: int) -> None:
    quota = policy.quota_bytes
    if quota is None or adding == 0:
        return
    used = used_bytes(session, collaboration_id)
    if used + adding > quota:
        raise QuotaExceeded(quota, used, collaboration_id)


def attach(session: Session, blob_id: str, task: m.Task, run: m.Run, role: str) -> None:
    """Make the blob ``run``'s ``role``; 400 if someone attached it first (not committed)."""
    done = session.execute(
        update(m.Blob)
        .where(m.Blob.uuid == blob_id, m.Blob.task_id.is_(None), m.Blob.size.is_not(None))
        .values(task_id=task.id, run_id=run.id, role=role, collaboration_id=task.collaboration_id)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:
        raise _not_yours(f"The {role} of run id={run.id}")


def check_result(
    session: Session, node: Principal, run: m.Run, value: object, policy: BlobPolicy
) -> str | None:
    """The canonical uuid of the result blob ``node`` reports for ``run`` (None: no result)."""
    if value is None or value == "":
        return None
    ref = canonical(value)
    blob = session.get(m.Blob, ref) if ref else None
    if (
        blob is None
        or blob.size is None
        or blob.task_id is not None
        or blob.uploader_kind != "node"
        or blob.uploader_id != node.id
    ):
        raise _not_yours(f"The result of run id={run.id}")
    collab = run.task.collaboration_id
    if blob.collaboration_id != collab:
        check_quota(session, policy, collab, blob.size)
    return ref


def result_blob_of(session: Session, run: m.Run) -> str | None:
    return session.scalar(select(m.Blob.uuid).where(m.Blob.run_id == run.id, m.Blob.role == RESULT))


# --------------------------------------------------------------------------------------------
# Deleting
# --------------------------------------------------------------------------------------------


def blobs_of_tasks(session: Session, task_ids: Iterable[int]) -> list[str]:
    ids = list(task_ids)
    if not ids:
        return []
    return list(session.scalars(select(m.Blob.uuid).where(m.Blob.task_id.in_(ids))))


def delete_from_store(store: StorageBackend | None, blob_ids: Iterable[str]) -> int:
    """Delete blobs whose rows are gone; failures are logged (the sweep retries). Returns the
    number deleted."""
    if store is None:
        return 0
    deleted = 0
    for blob_id in blob_ids:
        try:
            store.delete(blob_id)
            deleted += 1
        except StorageError as exc:
            log.warning("blob %s stays in the store for the orphan sweep: %s", blob_id, exc)
    return deleted
