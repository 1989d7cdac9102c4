"""The orphan sweep: blobs nobody will ever ask for leave the store.

Two kinds, removed every ``sweep_interval_minutes`` (and once at start):

- uploads never attached to a task or run (or never completed: the server stopped during
  the upload) that are older than ``orphan_upload_minutes``: row first, then the object;
- store objects without a row: left by a delete the store refused, a task deleted by a
  cascade (a collaboration's deletion), or a crash. The store is listed *before* the rows are
  read, and every upload's row is committed before its bytes are written, so an object being
  uploaded always has its row.

Only names that are uuids are touched (the only ones this server writes).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass

from anyio import to_thread
from sqlalchemy import delete, select

from vantage6_common.service.database import Database
from vantage6_server.db import models as m
from vantage6_server.services.blobs import canonical, delete_from_store
from vantage6_server.storage import StorageBackend, StorageError
from vantage6_server.storage.setup import BlobPolicy

log = logging.getLogger(__name__)
_BATCH = 500


@dataclass
class SweepReport:
    stale_uploads: int = 0
    objects_without_row: int = 0


def _without_row(db: Database, names: list[str]) -> list[str]:
    ids = [name for name in names if canonical(name) == name]
    missing: list[str] = []
    with db.session() as session:
        for start in range(0, len(ids), _BATCH):
            batch = ids[start : start + _BATCH]
            known = set(session.scalars(select(m.Blob.uuid).where(m.Blob.uuid.in_(batch))))
            missing.extend(name for name in batch if name not in known)
    return missing


def sweep(db: Database, store: StorageBackend, policy: BlobPolicy) -> SweepReport:
    """One pass of the sweep; a store that fails is logged and retried next time."""
    report = SweepReport()
    cutoff = m.utcnow() - dt.timedelta(minutes=policy.orphan_upload_minutes)
    with db.session() as session:
        # RETURNING: a blob attached meanwhile is not deleted (task_id is checked again)
        stale = list(
            session.scalars(
                delete(m.Blob)
                .where(m.Blob.task_id.is_(None), m.Blob.created_at < cutoff)
                .returning(m.Blob.uuid)
            )
        )
        session.commit()
    report.stale_uploads = delete_from_store(store, stale)
    try:
        listed = list(store.ids())
    except NotImplementedError:
        return report
    except StorageError as exc:
        log.warning("orphan sweep: cannot list the blob store: %s", exc)
        return report
    report.objects_without_row = delete_from_store(store, _without_row(db, listed))
    if report.stale_uploads or report.objects_without_row:
        log.info(
            "orphan sweep: %d stale uploads, %d store objects without a record deleted",
            report.stale_uploads,
            report.objects_without_row,
        )
    return report


async def sweep_periodically(db: Database, store: StorageBackend, policy: BlobPolicy) -> None:
    """Run :func:`sweep` at start and every ``sweep_interval_minutes`` (a task of the app)."""
    while True:
        try:
            await to_thread.run_sync(sweep, db, store, policy)
        except Exception:  # the next pass may succeed (a database that was busy)
            log.exception("orphan sweep failed")
        await asyncio.sleep(policy.sweep_interval_minutes * 60)
