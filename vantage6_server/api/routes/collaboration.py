"""/collaboration: collaborations and their member organizations and nodes."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request
from pydantic import Field
from sqlalchemy import select

from vantage6_common.scheme_policy import DEFAULT_SETTING
from vantage6_common.service.pagination import page_response
from vantage6_server import serialize
from vantage6_server.api.common import Body, IdBody, get_or_404, includes, parse_bool
from vantage6_server.api.deps import Auth, Db, UserAuth
from vantage6_server.api.errors import bad_request
from vantage6_server.api.schemas import Collaboration, Message, Node, Organization, answers, page_of
from vantage6_server.db import models as m
from vantage6_server.rbac import policy
from vantage6_server.rbac.catalog import Operation

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


def _organizations(session, ids: list[int]) -> list[m.Organization]:
    orgs = session.scalars(select(m.Organization).where(m.Organization.id.in_(ids))).all()
    missing = set(ids) - {o.id for o in orgs}
    if missing:
        raise bad_request(
            "Unknown organization ids", {"organization_ids": [f"unknown: {sorted(missing)}"]}
        )
    return list(orgs)


def _check_no_node_yet(session, organization_id: int, collaboration_id: int) -> None:
    exists = session.scalar(
        select(m.Node.id).where(
            m.Node.organization_id == organization_id,
            m.Node.collaboration_id == collaboration_id,
        )
    )
    if exists:
        raise bad_request(
            f"Organization id={organization_id} already has a node (id={exists}) "
            "in this collaboration"
        )


def _drop_nodes_of_leavers(session, collab: m.Collaboration, staying: set[int]) -> None:
    """An organization that leaves a collaboration leaves its node there too."""
    for node in [n for n in collab.nodes if n.organization_id not in staying]:
        session.delete(node)


@router.get("/collaboration", summary="List collaborations", **page_of(Collaboration))
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
    stmt = policy.visible(principal, "collaboration", select(m.Collaboration))
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


@router.get("/collaboration/{id}", summary="View a collaboration", **answers(Collaboration))
def get_collaboration(
    id: int, principal: Auth, session: Db, include: list[str] | None = Query(None)
) -> dict:
    collab = get_or_404(session, m.Collaboration, id, "Collaboration")
    policy.ensure(principal, Operation.VIEW, "collaboration", collab)
    return serialize.collaboration(collab, "organizations" in includes(include))


@router.post(
    "/collaboration",
    status_code=201,
    summary="Create a collaboration",
    **answers(Collaboration, 201),
)
def create_collaboration(body: CollaborationIn, user: UserAuth, session: Db) -> dict:
    policy.ensure(user, Operation.CREATE, "collaboration")
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


@router.patch("/collaboration/{id}", summary="Edit a collaboration", **answers(Collaboration))
def patch_collaboration(id: int, body: CollaborationPatch, user: UserAuth, session: Db) -> dict:
    collab = get_or_404(session, m.Collaboration, id, "Collaboration")
    policy.ensure(user, Operation.EDIT, "collaboration", collab)
    changes = body.model_dump(exclude_unset=True)
    new_members = None
    wanted = changes.get("organization_ids")
    if wanted is not None and set(wanted) != {o.id for o in collab.organizations}:
        policy.ensure_membership_change(user)
        new_members = _organizations(session, wanted)
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
    if new_members is not None:
        _drop_nodes_of_leavers(session, collab, {o.id for o in new_members})
        collab.organizations = new_members
    session.commit()
    return serialize.collaboration(collab)


@router.delete("/collaboration/{id}", summary="Delete a collaboration", **answers(Message))
def delete_collaboration(
    id: int, user: UserAuth, session: Db, delete_dependents: str | None = None
) -> dict:
    collab = get_or_404(session, m.Collaboration, id, "Collaboration")
    policy.ensure(user, Operation.DELETE, "collaboration", collab)
    if (collab.nodes or collab.tasks or collab.studies) and not parse_bool(delete_dependents):
        raise bad_request(
            "Collaboration has nodes, tasks or studies; "
            "add ?delete_dependents=true to delete them too"
        )
    session.delete(collab)
    session.commit()
    return {"msg": f"Collaboration id={id} has been deleted"}


@router.post(
    "/collaboration/{id}/organization", summary="Add an organization", **answers(list[Organization])
)
def add_organization(id: int, body: IdBody, user: UserAuth, session: Db) -> list[dict]:
    collab = get_or_404(session, m.Collaboration, id, "Collaboration")
    policy.ensure(user, Operation.EDIT, "collaboration", collab)
    policy.ensure_membership_change(user)
    org = get_or_404(session, m.Organization, body.id, "Organization")
    if org not in collab.organizations:
        collab.organizations.append(org)
        session.commit()
    return [serialize.organization(o) for o in collab.organizations]


@router.delete(
    "/collaboration/{id}/organization",
    summary="Remove an organization",
    **answers(list[Organization]),
)
def remove_organization(id: int, body: IdBody, user: UserAuth, session: Db) -> list[dict]:
    collab = get_or_404(session, m.Collaboration, id, "Collaboration")
    policy.ensure(user, Operation.EDIT, "collaboration", collab)
    policy.ensure_membership_change(user)
    org = get_or_404(session, m.Organization, body.id, "Organization")
    if org not in collab.organizations:
        raise bad_request(f"Organization id={org.id} is not in this collaboration")
    _drop_nodes_of_leavers(session, collab, {o.id for o in collab.organizations} - {org.id})
    collab.organizations.remove(org)
    session.commit()
    return [serialize.organization(o) for o in collab.organizations]


@router.post("/collaboration/{id}/node", summary="Attach a node", **answers(list[Node]))
def add_node(id: int, body: IdBody, user: UserAuth, session: Db) -> list[dict]:
    collab = get_or_404(session, m.Collaboration, id, "Collaboration")
    policy.ensure(user, Operation.EDIT, "collaboration", collab)
    node = get_or_404(session, m.Node, body.id, "Node")
    if node.collaboration_id != collab.id:
        policy.ensure_node_move(user, node, collab.id)
        if node.organization_id not in {o.id for o in collab.organizations}:
            raise bad_request("The node's organization is not in this collaboration")
        _check_no_node_yet(session, node.organization_id, collab.id)
        node.collaboration_id = collab.id
        session.commit()
    return [serialize.node(n) for n in collab.nodes]


@router.delete("/collaboration/{id}/node", summary="Detach and delete a node", **answers(Message))
def remove_node(id: int, body: IdBody, user: UserAuth, session: Db) -> dict:
    collab = get_or_404(session, m.Collaboration, id, "Collaboration")
    policy.ensure(user, Operation.EDIT, "collaboration", collab)
    node = get_or_404(session, m.Node, body.id, "Node")
    if node.collaboration_id != collab.id:
        raise bad_request(f"Node id={node.id} is not part of this collaboration")
    policy.ensure(user, Operation.DELETE, "node", node)
    session.delete(node)
    session.commit()
    return {"msg": f"Node id={body.id} removed from collaboration id={id}"}
