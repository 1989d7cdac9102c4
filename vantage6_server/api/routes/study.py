"""/study: a named subset of a collaboration's organizations."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from pydantic import Field
from sqlalchemy import select

from vantage6_common.service.pagination import page_response
from vantage6_server import serialize
from vantage6_server.api.common import Body, IdBody, get_or_404, includes, parse_bool
from vantage6_server.api.deps import Auth, Db, UserAuth
from vantage6_server.api.errors import bad_request
from vantage6_server.api.schemas import Message, Organization, Study, answers, page_of
from vantage6_server.db import models as m
from vantage6_server.rbac import policy
from vantage6_server.rbac.catalog import Operation

router = APIRouter(tags=["Study"])
SORTABLE = {"id": m.Study.id, "name": m.Study.name}


class StudyIn(Body):
    name: str = Field(min_length=1, max_length=128)
    collaboration_id: int = Field(ge=1)
    organization_ids: list[int] = Field(default_factory=list, max_length=10000)


class StudyPatch(Body):
    name: str | None = Field(None, min_length=1, max_length=128)
    organization_ids: list[int] | None = Field(None, max_length=10000)


def _orgs(session, collab: m.Collaboration, ids: list[int]) -> list[m.Organization]:
    members = {o.id: o for o in collab.organizations}
    unknown = set(ids) - set(members)
    if unknown:
        raise bad_request(
            "Organizations must be part of the study's collaboration",
            {"organization_ids": [f"not in collaboration: {sorted(unknown)}"]},
        )
    return [members[i] for i in ids]


@router.get("/study", summary="List studies", **page_of(Study))
def list_studies(
    request: Request,
    principal: Auth,
    session: Db,
    name: str | None = None,
    organization_id: int | None = None,
    collaboration_id: int | None = None,
    include: list[str] | None = Query(None),
    page: int = 1,
    per_page: int = 10,
    sort: str | None = None,
):
    stmt = policy.visible(principal, "study", select(m.Study))
    if name:
        stmt = stmt.where(m.Study.name.like(name))
    if organization_id is not None:
        stmt = stmt.where(m.Study.organizations.any(m.Organization.id == organization_id))
    if collaboration_id is not None:
        stmt = stmt.where(m.Study.collaboration_id == collaboration_id)
    with_orgs = "organizations" in includes(include)
    return page_response(
        request,
        session,
        stmt,
        lambda s: serialize.study(s, with_orgs),
        page=page,
        per_page=per_page,
        sort_columns=SORTABLE,
        sort=sort,
        default_order=[m.Study.id],
    )


@router.get("/study/{id}", summary="View a study", **answers(Study))
def get_study(
    id: int, principal: Auth, session: Db, include: list[str] | None = Query(None)
) -> dict:
    study = get_or_404(session, m.Study, id, "Study")
    policy.ensure(principal, Operation.VIEW, "study", study)
    return serialize.study(study, "organizations" in includes(include))


@router.post("/study", status_code=201, summary="Create a study", **answers(Study, 201))
def create_study(body: StudyIn, principal: UserAuth, session: Db) -> dict:
    collab = get_or_404(session, m.Collaboration, body.collaboration_id, "Collaboration")
    policy.ensure(principal, Operation.CREATE, "study", policy.target(collaboration_id=collab.id))
    if session.scalar(select(m.Study.id).where(m.Study.name == body.name)):
        raise bad_request(f"Study with name '{body.name}' already exists")
    study = m.Study(
        name=body.name,
        collaboration_id=collab.id,
        organizations=_orgs(session, collab, body.organization_ids),
    )
    session.add(study)
    session.commit()
    return serialize.study(study)


@router.patch("/study/{id}", summary="Edit a study", **answers(Study))
def patch_study(id: int, body: StudyPatch, principal: UserAuth, session: Db) -> dict:
    study = get_or_404(session, m.Study, id, "Study")
    policy.ensure(principal, Operation.EDIT, "study", study)
    if body.name:
        if session.scalar(select(m.Study.id).where(m.Study.name == body.name, m.Study.id != id)):
            raise bad_request(f"Study with name '{body.name}' already exists")
        study.name = body.name
    if body.organization_ids is not None:
        study.organizations = _orgs(session, study.collaboration, body.organization_ids)
    session.commit()
    return serialize.study(study)


@router.delete("/study/{id}", summary="Delete a study", **answers(Message))
def delete_study(
    id: int, principal: UserAuth, session: Db, delete_dependents: str | None = None
) -> dict:
    study = get_or_404(session, m.Study, id, "Study")
    policy.ensure(principal, Operation.DELETE, "study", study)
    has_tasks = session.scalar(select(m.Task.id).where(m.Task.study_id == id).limit(1))
    if has_tasks and not parse_bool(delete_dependents):
        raise bad_request("Study has tasks; add ?delete_dependents=true to delete it anyway")
    session.delete(study)
    session.commit()
    return {"msg": f"Study id={id} has been deleted"}


@router.post(
    "/study/{id}/organization",
    summary="Add an organization to a study",
    **answers(list[Organization]),
)
def add_org(id: int, body: IdBody, principal: UserAuth, session: Db) -> list[dict]:
    study = get_or_404(session, m.Study, id, "Study")
    policy.ensure(principal, Operation.EDIT, "study", study)
    org = _orgs(session, study.collaboration, [body.id])[0]
    if org not in study.organizations:
        study.organizations.append(org)
        session.commit()
    return [serialize.organization(o) for o in study.organizations]


@router.delete(
    "/study/{id}/organization",
    summary="Remove an organization from a study",
    **answers(list[Organization]),
)
def remove_org(id: int, body: IdBody, principal: UserAuth, session: Db) -> list[dict]:
    study = get_or_404(session, m.Study, id, "Study")
    policy.ensure(principal, Operation.EDIT, "study", study)
    org = get_or_404(session, m.Organization, body.id, "Organization")
    if org not in study.organizations:
        raise bad_request(f"Organization id={org.id} is not part of this study")
    study.organizations.remove(org)
    session.commit()
    return [serialize.organization(o) for o in study.organizations]
