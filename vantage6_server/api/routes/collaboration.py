"""/collaboration: collaborations and their member organizations and nodes."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request
from pydantic import Field
from sqlalchemy import select

from vantage6_common.scheme_policy import DEFAULT_SETTING
from vantage6_server.api import serialize
from vantage6_server.api.common import (
    Body,
    IdBody,
    get_or_404,
    in_scope,
    includes,
    parse_bool,
    require,
    restrict,
)
from vantage6_server.api.deps import Auth, Db, UserAuth
from vantage6_server.api.errors import bad_request
from vantage6_server.api.pagination import PAGE_RESPONSE, page_response
from vantage6_server.db import models as m
from vantage6_server.rbac.catalog import Operation, Scope
from vantage6_server.rbac.principal import Principal

router = APIRouter(tags=["Collaboration"])
SORTABLE = {"id": m.Collaboration.id, "name": m.Collaboration.name}


#: values of vantage6_common.scheme_policy.SETTINGS
EncryptionScheme = Literal["vantage6", "authenticated"]


class CollaborationIn(Body):
    name: str = Field(min_length=1, max_length=128)
    organization_ids: list[int] = Field(default_factory=list, max_length=10000)
    encrypted: bool = True
    session_restrict_to_same_image: bool = False
    #: payload format: "vantage6" (readable by vantage6 4.x) or "authenticated" (required)
    encryption_scheme: EncryptionScheme = DEFAULT_SETTING


class CollaborationPatch(Body):
    name: str | None = Field(None, min_length=1, max_length=128)
    organization_ids: list[int] | None = Field(None, max_length=10000)
    encrypted: bool | None = None
    session_restrict_to_same_image: bool | None = None
    encryption_scheme: EncryptionScheme | None = None


def visible_collaborations(principal: Principal) -> set[int] | None:
    scope = principal.scope("collaboration", Operation.VIEW)
    return principal.collaborations_in_scope(scope)


def can_edit(principal: Principal, collab_id: int) -> bool:
    scope = principal.scope("collaboration", Operation.EDIT)
    return in_scope(principal.collaborations_in_scope(scope), collab_id)


def _organizations(session, ids: list[int]) -> list[m.Organization]:
    orgs = session.scalars(select(m.Organization).where(m.Organization.id.in_(ids))).all()
    missing = set(ids) - {o.id for o in orgs}
    if missing:
        raise bad_request(
            "Unknown organization ids", {"organization_ids": [f"unknown: {sorted(missing)}"]}
        )
    return list(orgs)


@router.get("/collaboration", summary="List collaborations", responses=PAGE_RESPONSE)
def list_collaborations(
    request: Request,
    principal: Auth,
    session: Db,
    name: str | None = None,
    encrypted: bool | None = None,
    organization_id: int | None = None,
    algorithm_store_id: int | None = None,
    include: list[str] | None = Query(None),
    page: int = 1,
    per_page: int = 10,
    sort: str | None = None,
):
    stmt = restrict(select(m.Collaboration), m.Collaboration.id, visible_collaborations(principal))
    if name:
        stmt = stmt.where(m.Collaboration.name.like(name))
    if encrypted is not None:
        stmt = stmt.where(m.Collaboration.encrypted == encrypted)
    if organization_id is not None:
        stmt = stmt.where(m.Collaboration.organizations.any(m.Organization.id == organization_id))
    if algorithm_store_id is not None:
        stores = select(m.AlgorithmStore.collaboration_id).where(
            m.AlgorithmStore.id == algorithm_store_id
        )
        stmt = stmt.where(m.Collaboration.id.in_(stores))
    with_orgs = "organizations" in includes(include)
    return page_response(
        request,
        session,
        stmt,
        lambda c: serialize.collaboration(c, with_orgs),
        page=page,
        per_page=per_page,
        sort_columns=SORTABLE,
        sort=sort,
        default_order=[m.Collaboration.id],
    )


@router.get("/collaboration/{id}", summary="View a collaboration")
def get_collaboration(
    id: int, principal: Auth, session: Db, include: list[str] | None = Query(None)
) -> dict:
    collab = get_or_404(session, m.Collaboration, id, "Collaboration")
    require(in_scope(visible_collaborations(principal), collab.id))
    return serialize.collaboration(collab, "organizations" in includes(include))


@router.post("/collaboration", status_code=201, summary="Create a collaboration")
def create_collaboration(body: CollaborationIn, user: UserAuth, session: Db) -> dict:
    require(user.has("collaboration", Scope.GLOBAL, Operation.CREATE))
    if session.scalar(select(m.Collaboration.id).where(m.Collaboration.name == body.name)):
        raise bad_request(f"Collaboration with name '{body.name}' already exists")
    collab = m.Collaboration(
        name=body.name,
        encrypted=body.encrypted,
        session_restrict_to_same_image=body.session_restrict_to_same_image,
        encryption_scheme=body.encryption_scheme,
        organizations=_organizations(session, body.organization_ids),
    )
    session.add(collab)
    session.commit()
    return serialize.collaboration(collab)


@router.patch("/collaboration/{id}", summary="Edit a collaboration")
def patch_collaboration(id: int, body: CollaborationPatch, user: UserAuth, session: Db) -> dict:
    collab = get_or_404(session, m.Collaboration, id, "Collaboration")
    require(can_edit(user, collab.id))
    changes = body.model_dump(exclude_unset=True)
    if changes.get("name"):
        clash = session.scalar(
            select(m.Collaboration.id).where(
                m.Collaboration.name == changes["name"], m.Collaboration.id != id
            )
        )
        if clash:
            raise bad_request(f"Collaboration with name '{changes['name']}' already exists")
    for field in ("name", "encrypted", "session_restrict_to_same_image", "encryption_scheme"):
        if changes.get(field) is not None:
            setattr(collab, field, changes[field])
    if changes.get("organization_ids") is not None:
        collab.organizations = _organizations(session, changes["organization_ids"])
    session.commit()
    return serialize.collaboration(collab)


@router.delete("/collaboration/{id}", summary="Delete a collaboration")
def delete_collaboration(
    id: int, user: UserAuth, session: Db, delete_dependents: str | None = None
) -> dict:
    collab = get_or_404(session, m.Collaboration, id, "Collaboration")
    scope = user.scope("collaboration", Operation.DELETE)
    require(in_scope(user.collaborations_in_scope(scope), collab.id))
    if (collab.nodes or collab.tasks or collab.studies) and not parse_bool(delete_dependents):
        raise bad_request(
            "Collaboration has nodes, tasks or studies; "
            "add ?delete_dependents=true to delete them too"
        )
    session.delete(collab)
    session.commit()
    return {"msg": f"Collaboration id={id} has been deleted"}


@router.post("/collaboration/{id}/organization", summary="Add an organization")
def add_organization(id: int, body: IdBody, user: UserAuth, session: Db) -> list[dict]:
    collab = get_or_404(session, m.Collaboration, id, "Collaboration")
    require(can_edit(user, collab.id))
    org = get_or_404(session, m.Organization, body.id, "Organization")
    if org not in collab.organizations:
        collab.organizations.append(org)
        session.commit()
    return [serialize.organization(o) for o in collab.organizations]


@router.delete("/collaboration/{id}/organization", summary="Remove an organization")
def remove_organization(id: int, body: IdBody, user: UserAuth, session: Db) -> list[dict]:
    collab = get_or_404(session, m.Collaboration, id, "Collaboration")
    require(can_edit(user, collab.id))
    org = get_or_404(session, m.Organization, body.id, "Organization")
    if org not in collab.organizations:
        raise bad_request(f"Organization id={org.id} is not in this collaboration")
    collab.organizations.remove(org)
    for node in [n for n in collab.nodes if n.organization_id == org.id]:
        session.delete(node)
    session.commit()
    return [serialize.organization(o) for o in collab.organizations]


@router.post("/collaboration/{id}/node", summary="Attach a node")
def add_node(id: int, body: IdBody, user: UserAuth, session: Db) -> list[dict]:
    collab = get_or_404(session, m.Collaboration, id, "Collaboration")
    require(can_edit(user, collab.id))
    node = get_or_404(session, m.Node, body.id, "Node")
    if node.organization_id not in {o.id for o in collab.organizations}:
        raise bad_request("The node's organization is not in this collaboration")
    if node.collaboration_id != collab.id:
        node.collaboration_id = collab.id
        session.commit()
    return [serialize.node(n) for n in collab.nodes]


@router.delete("/collaboration/{id}/node", summary="Detach and delete a node")
def remove_node(id: int, body: IdBody, user: UserAuth, session: Db) -> dict:
    collab = get_or_404(session, m.Collaboration, id, "Collaboration")
    require(can_edit(user, collab.id))
    node = get_or_404(session, m.Node, body.id, "Node")
    if node.collaboration_id != collab.id:
        raise bad_request(f"Node id={node.id} is not part of this collaboration")
    session.delete(node)
    session.commit()
    return {"msg": f"Node id={body.id} removed from collaboration id={id}"}
