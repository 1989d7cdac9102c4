"""/run and /result: a task's per-organization runs; nodes report progress here."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Query, Request
from pydantic import Field
from sqlalchemy import delete, select

from vantage6_common.service.pagination import page_response
from vantage6_common.status import UNFINISHED_STATUSES, RunStatus
from vantage6_server import serialize
from vantage6_server.api.common import LenientBody, get_or_404, includes
from vantage6_server.api.deps import Auth, Ctx, Db, NodeAuth
from vantage6_server.api.errors import bad_request
from vantage6_server.api.schemas import Result, Run, answers, page_of
from vantage6_server.db import models as m
from vantage6_server.rbac import policy
from vantage6_server.rbac.catalog import Operation
from vantage6_server.rbac.errors import PermissionDenied
from vantage6_server.rbac.principal import Principal
from vantage6_server.services import blobs
from vantage6_server.services.tasks import announce_run_change, refresh_task_status

router = APIRouter(tags=["Run"])
SORTABLE = {
    "id": m.Run.id,
    "status": m.Run.status,
    "assigned_at": m.Run.assigned_at,
    "started_at": m.Run.started_at,
    "finished_at": m.Run.finished_at,
}
MAX_RESULT_CHARS = 64 * 1024 * 1024
MAX_LOG_CHARS = 4 * 1024 * 1024


class RunPatch(LenientBody):
    multiline_fields = frozenset({"result"})
    free_text_fields = frozenset({"log"})  # container output: kept as written, NUL replaced
    status: RunStatus | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    result: str | None = Field(None, max_length=MAX_RESULT_CHARS)
    log: str | None = Field(None, max_length=MAX_LOG_CHARS)


def _node_stub(session, run: m.Run) -> dict | None:
    node = session.scalar(
        select(m.Node).where(
            m.Node.organization_id == run.organization_id,
            m.Node.collaboration_id == run.task.collaboration_id,
        )
    )
    return None if node is None else _stub_of(node)


def _stub_of(node: m.Node) -> dict:
    return {"id": node.id, "name": node.name, "status": node.status, "ip": node.ip}


def _filtered(
    principal: Principal,
    session,
    *,
    task_id,
    organization_id,
    collaboration_id,
    node_id,
    state,
    status,
    assigned_from,
    assigned_till,
    started_from,
    started_till,
    finished_from,
    finished_till,
):
    stmt = policy.visible(principal, "run", select(m.Run).join(m.Task))
    if task_id is not None:
        stmt = stmt.where(m.Run.task_id == task_id)
    if organization_id is not None:
        stmt = stmt.where(m.Run.organization_id == organization_id)
    if collaboration_id is not None:
        stmt = stmt.where(m.Task.collaboration_id == collaboration_id)
    if node_id is not None:
        node = session.get(m.Node, node_id)
        if node is None:
            stmt = stmt.where(m.Run.id == -1)
        else:
            stmt = stmt.where(
                m.Run.organization_id == node.organization_id,
                m.Task.collaboration_id == node.collaboration_id,
            )
    if state == "open":
        stmt = stmt.where(m.Run.status.in_(UNFINISHED_STATUSES))
    elif state is not None:
        raise bad_request("state can only be 'open'", {"state": ["must be 'open'"]})
    if status:
        stmt = stmt.where(m.Run.status == status)
    for column, low, high in (
        (m.Run.assigned_at, assigned_from, assigned_till),
        (m.Run.started_at, started_from, started_till),
        (m.Run.finished_at, finished_from, finished_till),
    ):
        if low is not None:
            stmt = stmt.where(column >= low.replace(tzinfo=None))
        if high is not None:
            stmt = stmt.where(column <= high.replace(tzinfo=None))
    return stmt


@router.get("/run", summary="List runs", **page_of(Run))
def list_runs(
    request: Request,
    principal: Auth,
    session: Db,
    task_id: int | None = None,
    organization_id: int | None = None,
    collaboration_id: int | None = None,
    node_id: int | None = None,
    state: str | None = None,
    status: str | None = None,
    include: list[str] | None = Query(None),
    assigned_from: dt.datetime | None = None,
    assigned_till: dt.datetime | None = None,
    started_from: dt.datetime | None = None,
    started_till: dt.datetime | None = None,
    finished_from: dt.datetime | None = None,
    finished_till: dt.datetime | None = None,
    page: int = 1,
    per_page: int = 10,
    sort: str | None = None,
):
    stmt = _filtered(
        principal,
        session,
        task_id=task_id,
        organization_id=organization_id,
        collaboration_id=collaboration_id,
        node_id=node_id,
        state=state,
        status=status,
        assigned_from=assigned_from,
        assigned_till=assigned_till,
        started_from=started_from,
        started_till=started_till,
        finished_from=finished_from,
        finished_till=finished_till,
    )
    with_task = "task" in includes(include)
    return page_response(
        request,
        session,
        stmt,
        lambda r: serialize.run(r, include_task=with_task, node_stub=_node_stub(session, r)),
        page=page,
        per_page=per_page,
        sort_columns=SORTABLE,
        sort=sort,
        default_order=[m.Run.id],
    )


@router.get("/run/{id}", summary="View a run", **answers(Run))
def get_run(id: int, principal: Auth, session: Db, include: list[str] | None = Query(None)) -> dict:
    run = get_or_404(session, m.Run, id, "Run")
    policy.ensure(principal, Operation.VIEW, "run", run)
    return serialize.run(
        run, include_task="task" in includes(include), node_stub=_node_stub(session, run)
    )


@router.patch("/run/{id}", summary="Report a run's progress (its node only)", **answers(Run))
def patch_run(id: int, body: RunPatch, node: NodeAuth, ctx: Ctx, session: Db) -> dict:
    run = get_or_404(session, m.Run, id, "Run")
    if not policy.may_report(node, run):
        raise PermissionDenied("This run belongs to another node")
    changes = body.model_dump(exclude_unset=True)
    if run.status not in UNFINISHED_STATUSES:
        killed_report = (
            run.status == RunStatus.KILLED.value
            and set(changes) <= {"status", "log", "finished_at"}
            and changes.get("status", RunStatus.KILLED) == RunStatus.KILLED
        )
        if not killed_report:
            raise bad_request(f"Run id={id} has already finished with status '{run.status}'")
    status_changed = False
    for field in ("started_at", "finished_at"):
        if changes.get(field) is not None:
            setattr(
                run,
                field,
                changes[field].astimezone(dt.UTC).replace(tzinfo=None)
                if changes[field].tzinfo
                else changes[field],
            )
    replaced_blob: str | None = None
    if "result" in changes and run.blob_storage_used:
        current = blobs.result_blob_of(session, run)
        if blobs.canonical(changes["result"]) != current or current is None:  # else: a retry
            ref = blobs.check_result(session, node, run, changes["result"], ctx.blob_policy)
            if current is not None:  # a second result replaces the first
                session.execute(delete(m.Blob).where(m.Blob.uuid == current))
                replaced_blob = current
            if ref is not None:
                blobs.attach(session, ref, run.task, run, blobs.RESULT)
            run.result = ref if ref is not None else changes["result"]
    elif "result" in changes:
        run.result = changes["result"]
    if "log" in changes:
        run.log = changes["log"]
    if changes.get("status") is not None and changes["status"].value != run.status:
        run.status = changes["status"].value
        status_changed = True
        if not changes["status"].is_finished and run.started_at is None:
            run.started_at = m.utcnow()
        if changes["status"].is_finished and run.finished_at is None:
            run.finished_at = m.utcnow()
    refresh_task_status(run.task)
    session.commit()
    if replaced_blob is not None:
        blobs.delete_from_store(ctx.storage, [replaced_blob])
    if status_changed or "result" in changes:
        announce_run_change(ctx.events, run, node.id)
    # the caller's node was loaded with its principal
    return serialize.run(run, node_stub=_stub_of(session.get(m.Node, node.id)))


@router.get("/result", summary="List results", **page_of(Result))
def list_results(
    request: Request,
    principal: Auth,
    session: Db,
    task_id: int | None = None,
    organization_id: int | None = None,
    collaboration_id: int | None = None,
    node_id: int | None = None,
    state: str | None = None,
    status: str | None = None,
    page: int = 1,
    per_page: int = 10,
    sort: str | None = None,
):
    stmt = _filtered(
        principal,
        session,
        task_id=task_id,
        organization_id=organization_id,
        collaboration_id=collaboration_id,
        node_id=node_id,
        state=state,
        status=status,
        assigned_from=None,
        assigned_till=None,
        started_from=None,
        started_till=None,
        finished_from=None,
        finished_till=None,
    )
    return page_response(
        request,
        session,
        stmt,
        serialize.result,
        page=page,
        per_page=per_page,
        sort_columns=SORTABLE,
        sort=sort,
        default_order=[m.Run.id],
    )


@router.get("/result/{id}", summary="View a result", **answers(Result))
def get_result(id: int, principal: Auth, session: Db) -> dict:
    run = get_or_404(session, m.Run, id, "Result")
    policy.ensure(principal, Operation.VIEW, "run", run)
    return serialize.result(run)
