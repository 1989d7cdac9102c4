"""/task: create a task (one run per organization), list, view, delete."""

from __future__ import annotations

import base64
import binascii

from fastapi import APIRouter, Query, Request
from pydantic import Field, field_validator
from sqlalchemy import select

from vantage6_common.crypto import detect_scheme
from vantage6_common.labels import check_label
from vantage6_common.scheme_policy import SchemePolicy
from vantage6_common.service.pagination import page_response
from vantage6_common.status import RunStatus
from vantage6_server import serialize
from vantage6_server.api.common import LenientBody, get_or_404, includes
from vantage6_server.api.deps import Auth, Ctx, Db
from vantage6_server.api.errors import bad_request, forbidden
from vantage6_server.api.schemas import Message, Task, TaskStatus, answers, page_of
from vantage6_server.db import models as m
from vantage6_server.rbac import policy
from vantage6_server.rbac.catalog import Operation
from vantage6_server.rbac.principal import Principal
from vantage6_server.services import blobs
from vantage6_server.services.offers import offer_runs
from vantage6_server.services.store_pin import pin_image
from vantage6_server.services.tasks import announce_new_task, descendants, kill_tasks

router = APIRouter(tags=["Task"])
SORTABLE = {
    "id": m.Task.id,
    "name": m.Task.name,
    "created_at": m.Task.created_at,
    "status": m.Task.status,
    "job_id": m.Task.job_id,
}
MAX_INPUT_CHARS = 16 * 1024 * 1024


class OrganizationInput(LenientBody):
    multiline_fields = frozenset({"input"})
    id: int = Field(ge=1)
    input: str = Field("", max_length=MAX_INPUT_CHARS)


class TaskIn(LenientBody):
    multiline_fields = frozenset({"description"})
    image: str = Field(min_length=1, max_length=512)
    collaboration_id: int | None = Field(None, ge=1)
    study_id: int | None = Field(None, ge=1)
    organizations: list[OrganizationInput] = Field(min_length=1, max_length=10000)
    databases: list[dict] | None = Field(None, max_length=100)
    name: str | None = Field(None, max_length=256)
    description: str | None = Field(None, max_length=10000)
    store_id: int | None = Field(None, ge=1)
    server_url: str | None = Field(None, max_length=512, pattern=r"^https?://[!-~]+$")

    @field_validator("databases")
    @classmethod
    def _labels(cls, value: list[dict] | None) -> list[dict] | None:
        # labels become environment variable names in algorithm containers (CVE-2024-21649)
        for entry in value or []:
            check_label(entry.get("label"))
        return value


def _check_input_encryption(
    encrypted: bool, inputs: list[OrganizationInput], scheme_policy: SchemePolicy
) -> None:
    """Refuse plaintext in encrypted collaborations and ciphertext in plain ones, and the
    vantage6 format where the collaboration requires the authenticated one."""
    for item in inputs:
        text = item.input
        looks_encrypted = detect_scheme(text) is not None
        if encrypted and not looks_encrypted:
            raise bad_request(
                "This collaboration is encrypted but the input for organization "
                f"id={item.id} is not encrypted",
                {"organizations": ["input not encrypted"]},
            )
        if encrypted and detect_scheme(text) not in scheme_policy.accepted:
            raise bad_request(
                f"The input for organization id={item.id} is in the unauthenticated vantage6 "
                "format, but this collaboration requires the authenticated format "
                "(encryption_scheme 'authenticated'; vantage6 4.x clients cannot write it)",
                {"organizations": ["input not in the authenticated format"]},
            )
        if not encrypted:
            if looks_encrypted:
                raise bad_request(
                    "This collaboration is not encrypted but the input for organization "
                    f"id={item.id} looks encrypted",
                    {"organizations": ["input is encrypted"]},
                )
            try:
                base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise bad_request(
                    f"Input for organization id={item.id} is not base64",
                    {"organizations": ["input must be base64"]},
                ) from exc


def _databases(raw: list[dict] | None) -> list[dict]:
    out = []
    for entry in raw or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("label"), str):
            raise bad_request("Each database needs a 'label'", {"databases": ["label missing"]})
        params = {k: v for k, v in entry.items() if k != "label"}
        out.append({"label": entry["label"], "parameters": params})
    return out


def _image_and_store(
    body: TaskIn,
    request: Request,
    ctx: Ctx,
    session: Db,
    collaboration_id: int,
    parent: m.Task | None,
) -> tuple[str, int | None]:
    """The task's image and store: a subtask takes its parent's (vantage6 4.x); a user's task
    from a store runs the digest the store approved (services/store_pin)."""
    if parent is not None:
        return parent.image, parent.algorithm_store_id
    if body.store_id is None:
        return body.image, None
    store = get_or_404(session, m.AlgorithmStore, body.store_id, "Algorithm store")
    if store.collaboration_id not in (None, collaboration_id):
        raise forbidden(
            "The algorithm store is not part of the collaboration to which the task is posted"
        )
    server_url = body.server_url or f"{request.base_url}".rstrip("/") + ctx.settings.api_path
    pinned = pin_image(
        store.url, body.image, server_url.rstrip("/"), request.headers.get("authorization")
    )
    return pinned.image, store.id if pinned.keeps_store else None


@router.post("/task", status_code=201, summary="Create a task", **answers(Task, 201))
def create_task(body: TaskIn, request: Request, principal: Auth, ctx: Ctx, session: Db) -> dict:
    study = None
    if body.study_id is not None:
        study = get_or_404(session, m.Study, body.study_id, "Study")
        collab_id = study.collaboration_id
        if body.collaboration_id not in (None, collab_id):
            raise bad_request("The study is not part of that collaboration")
    elif body.collaboration_id is not None:
        collab_id = body.collaboration_id
    else:
        raise bad_request(
            "Give a collaboration_id or a study_id",
            {"collaboration_id": ["required without study_id"]},
        )
    collab = get_or_404(session, m.Collaboration, collab_id, "Collaboration")
    parent = session.get(m.Task, principal.id) if principal.is_container else None
    collab_members = {o.id for o in collab.organizations}
    policy.ensure_task_creation(principal, collab, collab_members, parent, body.image)
    members = {o.id for o in study.organizations} if study else collab_members
    org_ids = [o.id for o in body.organizations]
    if len(set(org_ids)) != len(org_ids):
        raise bad_request("An organization appears more than once", {"organizations": ["dupe"]})
    outsiders = sorted(set(org_ids) - members)
    if outsiders:
        raise bad_request(
            f"Organizations {outsiders} are not part of this "
            f"{'study' if study else 'collaboration'}",
            {"organizations": [f"not a member: {outsiders}"]},
        )
    blob_refs = None
    if ctx.storage is not None:  # inputs are blobs the caller uploaded (services/blobs)
        blob_refs = blobs.check_inputs(
            session,
            principal,
            collab.id,
            {o.id: o.input for o in body.organizations},
            ctx.blob_policy,
        )
    else:
        _check_input_encryption(
            collab.encrypted, body.organizations, SchemePolicy(collab.encryption_scheme)
        )
    image, store_id = _image_and_store(body, request, ctx, session, collab.id, parent)
    task = m.Task(
        name=body.name or "",
        description=body.description or "",
        image=image,
        collaboration_id=collab.id,
        study_id=study.id if study else None,
        job_id=parent.job_id if parent else 0,
        parent_id=parent.id if parent else None,
        init_org_id=principal.organization_id,
        init_user_id=parent.init_user_id if parent else principal.id,
        algorithm_store_id=store_id,
        databases=_databases(body.databases),
        status=RunStatus.PENDING.value,
    )
    session.add(task)
    session.flush()
    if parent is None:
        task.job_id = task.id
    task.runs = [
        m.Run(
            organization_id=o.id,
            input=blob_refs[o.id] if blob_refs else o.input,
            status=RunStatus.PENDING.value,
            blob_storage_used=blob_refs is not None,
        )
        for o in body.organizations
    ]
    if blob_refs is not None:
        session.flush()
        for run in task.runs:
            blobs.attach(session, blob_refs[run.organization_id], task, run, blobs.INPUT)
    session.commit()
    offer_runs(session, ctx.events, ctx.tokens, task)  # before new_task: see services/offers
    announce_new_task(ctx.events, task)
    return serialize.task(task)


@router.get("/task", summary="List tasks", **page_of(Task))
def list_tasks(
    request: Request,
    principal: Auth,
    session: Db,
    init_org_id: int | None = None,
    init_user_id: int | None = None,
    collaboration_id: int | None = None,
    study_id: int | None = None,
    store_id: int | None = None,
    is_user_created: int | None = None,
    image: str | None = None,
    parent_id: int | None = None,
    job_id: int | None = None,
    name: str | None = None,
    description: str | None = None,
    database: str | None = None,
    run_id: int | None = None,
    status: str | None = None,
    include: list[str] | None = Query(None),
    page: int = 1,
    per_page: int = 10,
    sort: str | None = None,
):
    stmt = policy.visible(principal, "task", select(m.Task))
    for column, value in (
        (m.Task.init_org_id, init_org_id),
        (m.Task.init_user_id, init_user_id),
        (m.Task.collaboration_id, collaboration_id),
        (m.Task.study_id, study_id),
        (m.Task.algorithm_store_id, store_id),
        (m.Task.parent_id, parent_id),
        (m.Task.job_id, job_id),
        (m.Task.status, status),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    for column, value in (
        (m.Task.image, image),
        (m.Task.name, name),
        (m.Task.description, description),
    ):
        if value:
            stmt = stmt.where(column.like(value))
    if is_user_created is not None:
        stmt = stmt.where(
            m.Task.parent_id.is_(None) if is_user_created else m.Task.parent_id.is_not(None)
        )
    if run_id is not None:
        stmt = stmt.where(m.Task.runs.any(m.Run.id == run_id))
    if database:
        stmt = stmt.where(
            m.Task.databases.cast(m.Text).like(f'%"label": "{database}"%')
            | m.Task.databases.cast(m.Text).like(f'%"label":"{database}"%')
        )
    included = includes(include)
    return page_response(
        request,
        session,
        stmt,
        lambda t: _task_with(principal, session, t, included),
        page=page,
        per_page=per_page,
        sort_columns=SORTABLE,
        sort=sort,
        default_order=[m.Task.id],
    )


@router.get("/task/{id}", summary="View a task", **answers(Task))
def get_task(
    id: int, principal: Auth, session: Db, include: list[str] | None = Query(None)
) -> dict:
    task = get_or_404(session, m.Task, id, "Task")
    policy.ensure(principal, Operation.VIEW, "task", task)
    return _task_with(principal, session, task, includes(include))


def _task_with(principal: Principal, session, task: m.Task, included: set[str]) -> dict:
    """A task with the runs and results asked for, of the runs the caller may view (a task
    view rule alone shows no run input or result: CVE-2023-41882)."""
    if "runs" not in included and "results" not in included:
        return serialize.task(task)
    visible = set(
        session.scalars(
            policy.visible(
                principal, "run", select(m.Run.id).join(m.Task).where(m.Task.id == task.id)
            )
        )
    )
    runs = [r for r in task.runs if r.id in visible]
    return serialize.task(
        task,
        runs=runs if "runs" in included else None,
        results=runs if "results" in included else None,
    )


@router.get("/task/{id}/status", summary="A task's status", **answers(TaskStatus))
def get_task_status(id: int, principal: Auth, session: Db) -> dict:
    task = get_or_404(session, m.Task, id, "Task")
    policy.ensure(principal, Operation.VIEW, "task", task)
    return {"status": task.status}


@router.delete("/task/{id}", summary="Delete a task, its runs and subtasks", **answers(Message))
def delete_task(id: int, principal: Auth, ctx: Ctx, session: Db) -> dict:
    task = get_or_404(session, m.Task, id, "Task")
    policy.ensure(principal, Operation.DELETE, "task", task)
    family = descendants(session, task)
    kill_tasks(session, ctx.events, family)
    doomed = blobs.blobs_of_tasks(session, [t.id for t in family])
    for member in reversed(family):
        session.delete(member)
    session.commit()
    # after the commit; what the store fails to delete is left to the orphan sweep
    blobs.delete_from_store(ctx.storage, doomed)
    return {"msg": f"Task id={id} and its runs and subtasks have been deleted"}


__all__ = ["router"]
