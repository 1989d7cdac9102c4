"""/node: data stations; the API key is shown once, only its digest is stored."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from pydantic import Field
from sqlalchemy import select

from vantage6_common.service.pagination import page_response
from vantage6_server import serialize
from vantage6_server.api.common import Body, get_or_404
from vantage6_server.api.deps import Auth, Db, UserAuth
from vantage6_server.api.errors import bad_request
from vantage6_server.api.schemas import Message, Node, NodeWithKey, answers, page_of
from vantage6_server.db import models as m
from vantage6_server.rbac import policy
from vantage6_server.rbac.catalog import Operation
from vantage6_server.security.secrets_util import digest, new_api_key

router = APIRouter(tags=["Node"])
SORTABLE = {
    "id": m.Node.id,
    "name": m.Node.name,
    "status": m.Node.status,
    "last_seen": m.Node.last_seen,
}


class NodeIn(Body):
    collaboration_id: int = Field(ge=1)
    organization_id: int | None = Field(None, ge=1)
    name: str | None = Field(None, min_length=1, max_length=256)
    #: an API key chosen by the caller (e.g. from an import file); generated when absent
    api_key: str | None = Field(None, min_length=16, max_length=256)


class NodePatch(Body):
    name: str | None = Field(None, min_length=1, max_length=256)
    organization_id: int | None = Field(None, ge=1)
    collaboration_id: int | None = Field(None, ge=1)
    ip: str | None = Field(None, max_length=64)
    clear_ip: bool | None = None


@router.get("/node", summary="List nodes", **page_of(Node))
def list_nodes(
    request: Request,
    principal: Auth,
    session: Db,
    name: str | None = None,
    organization_id: int | None = None,
    collaboration_id: int | None = None,
    study_id: int | None = None,
    status: str | None = None,
    ip: str | None = None,
    last_seen_from: dt.datetime | None = None,
    last_seen_till: dt.datetime | None = None,
    page: int = 1,
    per_page: int = 10,
    sort: str | None = None,
):
    stmt = policy.visible(principal, "node", select(m.Node))
    if name:
        stmt = stmt.where(m.Node.name.like(name))
    if organization_id is not None:
        stmt = stmt.where(m.Node.organization_id == organization_id)
    if collaboration_id is not None:
        stmt = stmt.where(m.Node.collaboration_id == collaboration_id)
    if study_id is not None:
        study = session.get(m.Study, study_id)
        if study is not None and not policy.may(principal, Operation.VIEW, "study", study):
            study = None  # a study the caller may not see matches nothing
        org_ids = [o.id for o in study.organizations] if study else []
        stmt = stmt.where(
            m.Node.collaboration_id == (study.collaboration_id if study else -1),
            m.Node.organization_id.in_(org_ids or [-1]),
        )
    if status:
        stmt = stmt.where(m.Node.status == status)
    if ip:
        stmt = stmt.where(m.Node.ip == ip)
    if last_seen_from:
        stmt = stmt.where(m.Node.last_seen >= last_seen_from.replace(tzinfo=None))
    if last_seen_till:
        stmt = stmt.where(m.Node.last_seen <= last_seen_till.replace(tzinfo=None))
    return page_response(
        request,
        session,
        stmt,
        serialize.node,
        page=page,
        per_page=per_page,
        sort_columns=SORTABLE,
        sort=sort,
        default_order=[m.Node.id],
    )


@router.get("/node/{id}", summary="View a node", **answers(Node))
def get_node(id: int, principal: Auth, session: Db) -> dict:
    node = get_or_404(session, m.Node, id, "Node")
    policy.ensure(principal, Operation.VIEW, "node", node)
    return serialize.node(node)


@router.post(
    "/node",
    status_code=201,
    summary="Register a node; answers its API key once",
    **answers(NodeWithKey, 201),
)
def create_node(body: NodeIn, user: UserAuth, session: Db) -> dict:
    collab = get_or_404(session, m.Collaboration, body.collaboration_id, "Collaboration")
    org_id = body.organization_id or user.organization_id
    org = get_or_404(session, m.Organization, org_id, "Organization")
    policy.ensure(
        user,
        Operation.CREATE,
        "node",
        policy.target(organization_id=org.id, collaboration_id=collab.id),
    )
    if org not in collab.organizations:
        raise bad_request(f"Organization id={org.id} is not part of collaboration id={collab.id}")
    exists = session.scalar(
        select(m.Node.id).where(
            m.Node.organization_id == org.id, m.Node.collaboration_id == collab.id
        )
    )
    if exists:
        raise bad_request(
            f"Organization id={org.id} already has a node (id={exists}) in this collaboration"
        )
    name = body.name or f"{org.name} - {collab.name} Node"
    if session.scalar(select(m.Node.id).where(m.Node.name == name)):
        raise bad_request(f"Node name '{name}' is already taken")
    api_key = body.api_key or new_api_key()
    if session.scalar(select(m.Node.id).where(m.Node.api_key_digest == digest(api_key))):
        raise bad_request("This API key is already used by another node; choose another")
    node = m.Node(
        name=name,
        api_key_digest=digest(api_key),
        organization_id=org.id,
        collaboration_id=collab.id,
    )
    session.add(node)
    session.commit()
    return {**serialize.node(node), "api_key": api_key}


@router.patch("/node/{id}", summary="Edit a node", **answers(Node))
def patch_node(id: int, body: NodePatch, principal: Auth, session: Db) -> dict:
    node = get_or_404(session, m.Node, id, "Node")
    policy.ensure(principal, Operation.EDIT, "node", node)
    changes = body.model_dump(exclude_unset=True)
    if principal.is_node and set(changes) - {"name", "ip", "clear_ip"}:
        raise bad_request("Nodes may only change their name and ip")
    if changes.get("name"):
        clash = session.scalar(
            select(m.Node.id).where(m.Node.name == changes["name"], m.Node.id != id)
        )
        if clash:
            raise bad_request(f"Node name '{changes['name']}' is already taken")
        node.name = changes["name"]
    new_org = changes.get("organization_id") or node.organization_id
    new_collab = changes.get("collaboration_id") or node.collaboration_id
    if (new_org, new_collab) != (node.organization_id, node.collaboration_id):
        policy.ensure(
            principal,
            Operation.EDIT,
            "node",
            policy.target(id=node.id, organization_id=new_org, collaboration_id=new_collab),
        )
        collab = get_or_404(session, m.Collaboration, new_collab, "Collaboration")
        if new_org not in {o.id for o in collab.organizations}:
            raise bad_request("That organization is not part of that collaboration")
        node.organization_id, node.collaboration_id = new_org, new_collab
    if changes.get("clear_ip"):
        node.ip = None
    elif changes.get("ip"):
        node.ip = changes["ip"]
    session.commit()
    return serialize.node(node)


@router.delete("/node/{id}", summary="Delete a node", **answers(Message))
def delete_node(id: int, user: UserAuth, session: Db) -> dict:
    node = get_or_404(session, m.Node, id, "Node")
    policy.ensure(user, Operation.DELETE, "node", node)
    session.delete(node)
    session.commit()
    return {"msg": f"Node id={id} has been deleted"}
